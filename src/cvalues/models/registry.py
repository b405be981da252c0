"""Which backend serves which ``--model`` provider. Adding a backend is one entry in ``FACTORIES``.

Backends are imported inside their factory, so ``openai:`` never imports torch and a missing
optional dependency (transformers, vllm) only matters to the provider that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import BackendError


@dataclass(frozen=True)
class BackendOptions:
    concurrency: int = 8
    batch_size: int = 8
    device: str = "auto"
    max_retries: int = 6  # servers only: the openai SDK's retries of one request


Executor = Literal["local", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "ray")


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
    from cvalues.models.transformers_backend import TransformersBackend

    # The precision is part of the model's identity (ModelSpec.dtype), not a transport option.
    return TransformersBackend(spec, batch_size=options.batch_size, device=options.device, dtype=spec.dtype)


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
    executor: Executor = "local",
    ray_address: str | None = None,
    ray_workers: int = 2,
) -> Backend:
    """The backend for ``spec``: in this process (``executor="local"``), or ``ray_workers`` Ray
    actors each holding one (``executor="ray"``; a local Ray cluster unless ``ray_address``).

    The executor is how requests travel, not what answers them: ``spec.key``, and so every
    request hash, is the same for both, and a run resumes across them.
    """
    factory = FACTORIES.get(spec.provider)
    if factory is None:
        raise BackendError(f"no backend for provider {spec.provider!r}; known: {', '.join(FACTORIES)}")
    if executor == "ray":
        from cvalues.models.ray_backend import ActorOptions, RayBackend

        actor_options = ActorOptions(
            concurrency=concurrency, batch_size=batch_size, device=device, max_retries=max_retries
        )
        return RayBackend(spec, workers=ray_workers, address=ray_address, options=actor_options)
    if executor != "local":
        raise BackendError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    options = BackendOptions(
        concurrency=concurrency, batch_size=batch_size, device=device, max_retries=max_retries
    )
    return factory(spec, options)
