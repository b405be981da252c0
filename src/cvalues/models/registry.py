"""Which backend serves which ``--model`` provider.

Built-in backends register here by decorator in the ``BACKENDS`` registry (cvalues.core.registry);
another package adds one through the ``cvalues.backends`` entry point group: a factory
``(spec: ModelSpec, options: BackendOptions) -> Backend``. Backends are imported inside their
factory, so ``openai:`` never imports torch and a missing optional dependency (transformers,
vllm) only matters to the provider that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.util import find_spec
from typing import Literal

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import BackendError, InputError
from cvalues.core.registry import BACKENDS


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


Executor = Literal["local", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "ray")


def check_executor(executor: str, ray_address: str | None = None, ray_workers: int = 2) -> None:
    """``--executor``, ``--ray-address`` and ``--ray-workers`` agree, and Ray is importable: checked
    before anything is written (InputError naming the flag, exit 2 in the CLI)."""
    if executor not in EXECUTORS:
        raise InputError(f"must be one of {', '.join(EXECUTORS)}, got {executor!r}", flag="--executor")
    if ray_address is not None and executor != "ray":
        raise InputError("a cluster address needs --executor ray", flag="--ray-address")
    if isinstance(ray_workers, bool) or not isinstance(ray_workers, int) or ray_workers < 1:
        raise InputError(f"must be a whole number of at least 1, got {ray_workers!r}", flag="--ray-workers")
    if executor == "ray" and find_spec("ray") is None:
        raise InputError("Ray is not installed: pip install 'cvalues[ray]'", flag="--executor")


@BACKENDS.register("openai")
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


BACKENDS.register("hf", _transformers)
BACKENDS.register("gguf", _transformers)


@BACKENDS.register("hf-rm")
def _reward_model(spec: ModelSpec, options: BackendOptions) -> Backend:
    from cvalues.models.reward_backend import RewardModelBackend

    return RewardModelBackend(spec, batch_size=options.batch_size, device=options.device)


@BACKENDS.register("vllm")
def _vllm(spec: ModelSpec, options: BackendOptions) -> Backend:
    from cvalues.models.vllm_backend import VLLMBackend

    return VLLMBackend(spec, batch_size=options.batch_size, dtype=spec.dtype)


def create_backend(
    spec: ModelSpec,
    *,
    concurrency: int = 8,
    batch_size: int = 8,
    device: str = "auto",
    max_retries: int = 6,
    batch_tokens: int | None = None,
    engine: str = "fast",
    executor: Executor = "local",
    ray_address: str | None = None,
    ray_workers: int = 2,
) -> Backend:
    """The backend for ``spec``: in this process (``executor="local"``), or ``ray_workers`` Ray
    actors each holding one (``executor="ray"``; a local Ray cluster unless ``ray_address``).

    The executor is how requests travel, not what answers them: ``spec.key``, and so every
    request hash, is the same for both, and a run resumes across them.
    """
    factory = BACKENDS.find(spec.provider)
    if factory is None:
        raise BackendError(f"no backend for provider {spec.provider!r}; known: {', '.join(BACKENDS.names())}")
    if executor == "ray":
        from cvalues.models.ray_backend import ActorOptions, RayBackend

        actor_options = ActorOptions(
            concurrency=concurrency,
            batch_size=batch_size,
            device=device,
            max_retries=max_retries,
            batch_tokens=batch_tokens,
            engine=engine,
        )
        return RayBackend(
            spec,
            workers=ray_workers,
            address=ray_address,
            options=actor_options,
            create_backend=create_backend,
        )
    if executor != "local":
        raise BackendError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    options = BackendOptions(
        concurrency=concurrency,
        batch_size=batch_size,
        device=device,
        max_retries=max_retries,
        batch_tokens=batch_tokens,
        engine=engine,
    )
    backend: Backend = factory(spec, options)
    return backend
