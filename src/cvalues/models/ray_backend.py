"""A run's requests spread over a Ray cluster: ``--executor ray``.

Each Ray actor holds one ordinary backend (transformers, vLLM, or a client of a server), built
by ``models.registry`` on the node it lands on. ``RayBackend`` is itself a ``Backend``, so the
local executor, the store (on the driver), request hashes and resume are the same whether a run
is local or on a cluster: the hash uses ``ModelSpec.key``, which names the model and never the
executor, so a run interrupted on a cluster resumes on one machine (and back) with no request
sent twice.

Load balancing is a pool of idle actors: a ``complete`` call waits for a free actor, sends it
the batch and gives the actor back when the answer arrives, so a slow node takes fewer batches.
An actor that dies (node lost, out of memory) fails only its batch: the responses carry
``error`` and the next run sends those requests again.

``ray.init(address=...)`` joins an existing cluster (``auto``, ``ray://host:10001``, ...); with
no address a local cluster is started for this process and stopped by ``aclose``. Ray is an
optional dependency (``pip install 'cvalues[ray]'``), imported only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import BackendError
from cvalues.core.requests import GenerationSettings, ModelRequest, ModelResponse

# Environment a worker on this machine needs to find the same caches as the driver. Only a local
# cluster gets it: on another node these paths mean nothing.
_FORWARDED_ENV = ("CVALUES_CACHE", "CVALUES_DATA_DIR", "HF_HOME", "VLLM_CPU_KVCACHE_SPACE")
# A local cluster's shared-memory object store; requests and responses are small.
_LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024
LOCAL_PROVIDERS = ("hf", "gguf", "vllm")


@dataclass(frozen=True)
class ActorOptions:
    """What each actor passes to ``create_backend`` for its own backend, and what it reserves."""

    concurrency: int = 8
    batch_size: int = 8
    device: str = "auto"
    max_retries: int = 6
    batch_tokens: int | None = None  # local models: a token budget per forward pass
    engine: str = "fast"  # transformers: the CPU fast path where tested, or "plain"
    num_cpus: float = 1.0
    num_gpus: float = 0.0


class _BackendActor:
    """Runs on a worker: one local backend, called by the driver one batch at a time."""

    def __init__(self, spec: ModelSpec, options: ActorOptions, create_backend: Any) -> None:
        # ``create_backend`` is handed over by the registry (pickled by reference), so this module
        # and the registry do not import each other.
        self._backend = create_backend(
            spec,
            concurrency=options.concurrency,
            batch_size=options.batch_size,
            device=options.device,
            max_retries=options.max_retries,
            batch_tokens=options.batch_tokens,
            engine=options.engine,
        )

    async def describe(self) -> dict[str, Any]:
        import socket

        return {
            "node": socket.gethostname(),
            "pid": os.getpid(),
            "batch_size": self._backend.batch_size,
            "max_concurrency": self._backend.max_concurrency,
        }

    async def complete(
        self, requests: list[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        return await self._backend.complete(requests, settings)

    async def aclose(self) -> None:
        await self._backend.aclose()


class RayBackend:
    """``workers`` actors, each holding a backend for ``spec``; implements the Backend protocol."""

    def __init__(
        self,
        spec: ModelSpec,
        *,
        workers: int = 2,
        address: str | None = None,
        options: ActorOptions | None = None,
        create_backend: Any = None,
    ) -> None:
        """``create_backend``: how each actor makes its backend (``models.registry.create_backend``)."""
        try:
            import ray
        except ImportError:
            raise BackendError("--executor ray needs Ray: pip install 'cvalues[ray]'") from None
        if workers < 1:
            raise BackendError(f"--ray-workers must be at least 1, got {workers}")
        self.spec = spec
        self._ray = ray
        self._options = options or ActorOptions()
        self._owns_cluster = False
        if not ray.is_initialized():
            self._init_ray(address)
        actor_class = ray.remote(_BackendActor)
        local = address is None
        env = {name: os.environ[name] for name in _FORWARDED_ENV if local and name in os.environ}
        runtime_env: dict[str, Any] = {"env_vars": env} if env else {}
        self._actors = [
            actor_class.options(
                num_cpus=self._options.num_cpus,
                num_gpus=self._options.num_gpus,
                # Each actor serves batches from an event loop; a server client keeps several in flight.
                max_concurrency=max(1, self._options.concurrency),
                scheduling_strategy="SPREAD",
                runtime_env=runtime_env or None,
            ).remote(spec, self._options, create_backend)
            for _ in range(workers)
        ]
        try:
            # Loading happens in the actors' constructors; an error there surfaces here, at once.
            self.workers = ray.get([actor.describe.remote() for actor in self._actors])  # type: ignore[attr-defined]  # Ray adds .remote to actor methods at run time
        except Exception as exc:
            self._shutdown()
            raise BackendError(f"a Ray worker could not load {spec.key}: {_root_cause(exc)}") from exc
        first = self.workers[0]
        self.batch_size = int(first["batch_size"])
        per_actor = int(first["max_concurrency"])
        self.max_concurrency = per_actor * len(self._actors)
        self._slots_per_actor = per_actor
        # Batches answered by each actor, in actor order: shows how the load was spread.
        self.batches_per_worker = [0] * len(self._actors)
        self._idle: asyncio.Queue[Any] | None = None
        self._idle_loop: asyncio.AbstractEventLoop | None = None

    def _init_ray(self, address: str | None) -> None:
        ray = self._ray
        # A driver started inside a Ray job (or under `ray start`) is told its cluster by RAY_ADDRESS.
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address is None:
            ray.init(
                include_dashboard=False,
                object_store_memory=_LOCAL_OBJECT_STORE_BYTES,
                log_to_driver=False,
                configure_logging=False,
            )
            self._owns_cluster = True
        else:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError) as exc:
                raise BackendError(f"cannot join the Ray cluster at {address}: {exc}") from exc

    def _idle_pool(self) -> asyncio.Queue[Any]:
        # An asyncio queue belongs to one event loop: made anew for each loop the executor runs in
        # (a batch abandoned on an old loop has finished or was cancelled with it).
        loop = asyncio.get_running_loop()
        if self._idle is None or self._idle_loop is not loop:
            self._idle, self._idle_loop = asyncio.Queue(), loop
            for _ in range(self._slots_per_actor):
                for actor in self._actors:
                    self._idle.put_nowait(actor)
        return self._idle

    async def complete(
        self, requests: Sequence[ModelRequest], settings: GenerationSettings
    ) -> list[ModelResponse]:
        idle = self._idle_pool()
        actor = await idle.get()
        try:
            responses = await actor.complete.remote(list(requests), settings)
            self.batches_per_worker[self._actors.index(actor)] += 1
            return responses
        except Exception as exc:  # the actor died or its node was lost: this batch fails, not the run
            message = f"Ray worker failed: {_root_cause(exc)}"
            return [ModelResponse(error=message) for _ in requests]
        finally:
            idle.put_nowait(actor)

    async def aclose(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):  # a dead actor has nothing left to close
                await actor.aclose.remote()  # type: ignore[attr-defined]  # Ray adds .remote to actor methods at run time
        self._shutdown()

    def _shutdown(self) -> None:
        for actor in self._actors:
            self._ray.kill(actor)  # type: ignore[arg-type]  # an ActorHandle at run time
        self._actors = []
        if self._owns_cluster:
            self._ray.shutdown()
            self._owns_cluster = False


def _root_cause(exc: BaseException) -> str:
    """Ray wraps a worker's exception in its own; the first line of the innermost one says why."""
    cause = getattr(exc, "cause", None) or exc.__cause__ or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"
