"""Whether the CPU fast path covers a loaded model, and why not when it does not.

The fast path (this package) reaches into private parts of torch (the CPU flash kernel that
returns its log-sum-exp) and of transformers (``DynamicLayer`` internals, the attention and mask
registries, the ``logits_to_keep`` / ``cache`` forward arguments). It is proven to give the
tokens and choice log-probabilities of plain transformers only on what the tests run: the
architectures in ``TESTED_ARCHITECTURES`` with sdpa full attention and the plain dynamic cache,
on the torch and transformers versions below. Anything else runs plain transformers
(``generate`` / one padded forward pass), and the reason is logged and recorded in each
response's ``extra`` (``engine``, ``engine_reason``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from packaging.version import Version

Engine = Literal["fast", "plain"]
ENGINES: tuple[Engine, ...] = ("fast", "plain")

# Tested ranges, inclusive lower bound, exclusive upper bound. Widen only after running
# tests/test_transformers_engine.py on the new version.
TESTED_TORCH = (Version("2.13"), Version("2.14"))
TESTED_TRANSFORMERS = (Version("5.24"), Version("5.26"))
# SmolLM2's Llama shape, and Qwen2 / Qwen3 (random weights in the tests).
TESTED_ARCHITECTURES = frozenset({"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"})


@dataclass(frozen=True)
class EngineChoice:
    engine: Engine
    reason: str  # why plain; for fast, what it covers

    def extra(self) -> dict[str, str]:
        """What a response records about the path that computed it."""
        if self.engine == "fast":
            return {"engine": "fast"}
        return {"engine": "plain", "engine_reason": self.reason}


def _release(version: str) -> Version:
    # "2.13.0+cpu" -> 2.13.0; a dev build "5.26.0.dev0" counts as 5.26.
    return Version(Version(version).base_version)


def _outside(name: str, version: str, tested: tuple[Version, Version]) -> str | None:
    low, high = tested
    if low <= _release(version) < high:
        return None
    return f"{name} {version} is outside the tested range >={low},<{high}"


def uncovered_reason(model: Any, device: Any, versions: dict[str, str] | None = None) -> str | None:
    """Why the fast path does not cover ``model`` on ``device``; None when it does.

    ``versions`` (``{"torch": ..., "transformers": ...}``) defaults to the installed ones."""
    if versions is None:
        import torch
        import transformers

        versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    if getattr(device, "type", str(device)) != "cpu":
        return f"device {device}: the fast path is for CPU (GPUs run padded batches)"
    for name, tested in (("torch", TESTED_TORCH), ("transformers", TESTED_TRANSFORMERS)):
        problem = _outside(name, versions[name], tested)
        if problem:
            return problem
    config = model.config
    architectures = list(getattr(config, "architectures", None) or [type(model).__name__])
    if not set(architectures) <= TESTED_ARCHITECTURES:
        return f"architecture {', '.join(architectures)} is not one the fast path is tested on"
    attention = getattr(config, "_attn_implementation", None)
    if attention != "sdpa":
        return f"attention implementation {attention!r} (the fast path replaces sdpa only)"
    layer_types = set(getattr(config, "layer_types", None) or [])
    if getattr(config, "use_sliding_window", False) or layer_types - {"full_attention"}:
        return "sliding-window attention layers"
    cache = getattr(getattr(model, "generation_config", None), "cache_implementation", None)
    if cache not in (None, "dynamic"):
        return f"cache implementation {cache!r} (the fast path needs the plain dynamic cache)"
    try:
        import torch

        if not hasattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu"):
            return "this torch has no CPU flash-attention kernel"
    except ImportError:  # pragma: no cover - torch is there whenever a model is
        return "torch is missing"
    return None


def choose_engine(requested: str, model: Any, device: Any) -> EngineChoice:
    """``requested`` is ``--engine``: ``plain`` always runs plain transformers; ``fast`` runs the
    fast path where it is covered and falls back (with the reason) where not."""
    if requested not in ENGINES:
        raise ValueError(f"engine {requested!r} must be one of {', '.join(ENGINES)}")
    if requested == "plain":
        return EngineChoice("plain", "--engine plain")
    reason = uncovered_reason(model, device)
    if reason is not None:
        return EngineChoice("plain", reason)
    return EngineChoice("fast", "covered")
