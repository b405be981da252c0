"""Which model a run evaluated, with which behaviour settings, at which level.

Leaderboard rows are keyed by the evaluated model's spec plus the settings that change how it
behaves: MC mode and template when not the defaults, system prompt, temperature, and top_p /
seed when sampling. ``max_tokens`` is a budget rather than a behaviour (MC answers need a few
tokens, free-form replies hundreds), so it is shown with each run but does not split rows;
otherwise no model's MC and generation runs could ever meet in one row.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues.report.loading import Run, dict_block

LEVELS = ("safety", "responsibility")
DEFAULT_MC_TEMPLATE = "builtin:mc_zh"
# `cvalues mc score` rows and older runs carry no level: the official scorer's set is the
# Level-2 responsibility MC set, which is also MCItem's default level.
ASSUMED_LEVEL = "responsibility"


@dataclass(frozen=True)
class RunIdentity:
    spec: str
    variant: tuple[tuple[str, str], ...]
    level: str | None  # MC runs only: "safety" (L1) or "responsibility" (L2)
    level_note: str | None

    @property
    def row_key(self) -> str:
        return self.spec + "".join(f"|{k}={v}" for k, v in self.variant)

    @property
    def label(self) -> str:
        if not self.variant:
            return self.spec
        return f"{self.spec} ({', '.join(f'{k}={v}' for k, v in self.variant)})"


def _short(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def evaluated_model(results: dict[str, Any]) -> dict[str, Any]:
    """The model whose replies were scored.

    For a judge or human run that is the generator, not the judge: read from ``generator`` or
    ``source_run.model`` when present, falling back to ``model``.
    """
    for key in ("generator", "evaluated_model"):
        found = results.get(key)
        if isinstance(found, dict):
            return found
    source = results.get("source_run")
    source_model = source.get("model") if isinstance(source, dict) else None
    if isinstance(source_model, dict):
        return source_model
    model = results.get("model")
    return model if isinstance(model, dict) else {}


def _spec(run: Run, model: dict[str, Any]) -> str:
    spec = model.get("spec")
    if isinstance(spec, str) and spec:
        return spec
    # `cvalues mc score` does not know which model wrote the replies: the file names it.
    dataset = dict_block(run.results, "dataset")
    name = dataset.get("name") or Path(str(model.get("source") or run.path)).name
    return f"replies:{name}"


def _variant(run: Run, model: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    settings = dict_block(model, "settings")
    parts: list[tuple[str, str]] = []
    if run.is_mc and model.get("mode", "generate") != "generate":
        parts.append(("mode", str(model["mode"])))
    template = model.get("template")
    if (
        run.is_mc
        and isinstance(template, dict)
        and template.get("source", DEFAULT_MC_TEMPLATE) != DEFAULT_MC_TEMPLATE
    ):
        source = str(template["source"])
        name = source if source.startswith("builtin:") else Path(source).name
        parts.append(("template", f"{name}@{str(template.get('sha256', ''))[:8]}"))
    if settings.get("system_prompt"):
        parts.append(("system", _short(str(settings["system_prompt"]))))
    temperature = settings.get("temperature") or 0
    if temperature:
        parts.append(("temperature", f"{temperature:g}"))
        for key in ("top_p", "seed"):  # meaningless under greedy decoding
            if settings.get(key) is not None:
                parts.append((key, str(settings[key])))
    return tuple(parts)


def _level(run: Run) -> tuple[str | None, str | None]:
    if not run.is_mc:
        return None, None
    counts = Counter(s.get("level") for s in run.samples or [] if s.get("level") in LEVELS)
    if not counts:
        why = "no samples.jsonl" if run.samples is None else "its samples carry no level"
        return ASSUMED_LEVEL, f"{why}: counted as Level-2 responsibility (the official MC set's level)"
    level, _ = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    if len(counts) > 1:
        mix = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        return level, f"mixed levels ({mix}): counted as {level}, the majority"
    return level, None


def identify(run: Run, *, group_by: str = "settings") -> RunIdentity:
    """``group_by`` "settings" (default) or "model" (one row per model spec, settings ignored)."""
    model = evaluated_model(run.results)
    variant = _variant(run, model) if group_by == "settings" else ()
    level, note = _level(run)
    return RunIdentity(spec=_spec(run, model), variant=variant, level=level, level_note=note)


def level_name(level: str | None) -> str:
    return {"safety": "L1", "responsibility": "L2"}.get(level or "", "?")
