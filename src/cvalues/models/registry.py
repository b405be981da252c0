"""Which backend serves which ``--model`` provider. Adding a backend is one entry in ``FACTORIES``.

Backends are imported inside their factory, so ``openai:`` never imports torch and a missing
optional dependency (transformers, vllm) only matters to the provider that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import BackendError


@dataclass(frozen=True)
class BackendOptions:
    concurrency: int = 8
    batch_size: int = 8
    device: str = "auto"
    max_retries: int = 6  # servers only: the openai SDK's retries of one request
    # Local models: padded tokens per forward pass (rows x longest prompt); None: rows only.
    batch_tokens: int | None = None
    # transformers: "fast" (the CPU fast path where it is tested, else plain) or "plain". Not part
    # of the answer identity: greedy tokens are proven identical and choice log-probabilities
    # agree to float rounding (tests/test_transformers_engine.py), as between two batch sizes.
    engine: str = "fast"


def _openai(spec: ModelSpec, options: BackendOptions) -> Backend:
    from cvalues.models.openai_backend import OpenAIBackend

    return OpenAIBackend(spec, concurrency=options.concurrency, max_retries=options.max_retries)


def _transformers(spec: ModelSpec, options: BackendOptions) -> Backend:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:
        raise BackendError(
            f"{spec.provider}: models need the hf extra: pip install 'cvalues[hf]' ({exc})"
        ) from exc
    from cvalues.models.transformers import TransformersBackend

    # The precision is part of the model's identity (ModelSpec.dtype), not a transport option.
    return TransformersBackend(
        spec,
        batch_size=options.batch_size,
        batch_tokens=options.batch_tokens,
        device=options.device,
        dtype=spec.dtype,
        engine=options.engine,
    )


def _vllm(spec: ModelSpec, options: BackendOptions) -> Backend:
    from cvalues.models.vllm_backend import VLLMBackend

    return VLLMBackend(spec, batch_size=options.batch_size, dtype=spec.dtype)


FACTORIES: dict[str, Callable[[ModelSpec, BackendOptions], Backend]] = {
    "openai": _openai,
    "hf": _transformers,
    "gguf": _transformers,
    "vllm": _vllm,
}


def create_backend(
    spec: ModelSpec,
    *,
    concurrency: int = 8,
    batch_size: int = 8,
    device: str = "auto",
    max_retries: int = 6,
    batch_tokens: int | None = None,
    engine: str = "fast",
) -> Backend:
    factory = FACTORIES.get(spec.provider)
    if factory is None:
        raise BackendError(f"no backend for provider {spec.provider!r}; known: {', '.join(FACTORIES)}")
    options = BackendOptions(
        concurrency=concurrency,
        batch_size=batch_size,
        device=device,
        max_retries=max_retries,
        batch_tokens=batch_tokens,
        engine=engine,
    )
    return factory(spec, options)
