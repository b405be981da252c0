"""Seeded sampling for transformers ``generate``: each request's sample depends on the request
and its seed only, not on which other requests share its batch."""

from __future__ import annotations

from typing import Any

from cvalues.core.requests import GenerationSettings


def sampling_processors(settings: GenerationSettings, rows: int, device: Any) -> Any:
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    processors = LogitsProcessorList()
    if settings.temperature <= 0:
        return processors
    processors.append(TemperatureLogitsWarper(settings.temperature))
    if settings.top_p is not None and settings.top_p < 1.0:
        processors.append(TopPLogitsWarper(settings.top_p))
    processors.append(_GumbelMaxSampling(settings.seed, rows, device))
    return processors


class _GumbelMaxSampling:
    """Adds Gumbel noise to the scores so that greedy decoding draws a sample of softmax(scores).

    transformers' own sampling draws from the global RNG for the whole batch; a generator per
    row makes each request's sample reproducible from its seed alone.
    """

    def __init__(self, seed: int | None, rows: int, device: Any) -> None:
        import torch

        self._generators = []
        for _ in range(rows):
            generator = torch.Generator(device=device)
            if seed is None:
                generator.seed()
            else:
                generator.manual_seed(seed)
            self._generators.append(generator)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        uniform = torch.stack(
            [
                torch.rand(scores.shape[-1], generator=g, device=scores.device, dtype=torch.float32)
                for g in self._generators
            ]
        )
        # clamp: rand can return exactly 0, whose log is -inf
        gumbel = -torch.log(-torch.log(uniform.clamp(min=1e-20)))
        return scores + gumbel.to(scores.dtype)
