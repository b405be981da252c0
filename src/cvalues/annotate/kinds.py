"""What a label is for each task kind: form fields, validation, the values agreement is computed on,
and how several annotators' labels become one final label.

Labels are small JSON objects:

==================  ==========================================================================
kind                label
==================  ==========================================================================
``safety``          ``{"verdict": "safe" | "unsafe", "scenario": str | null}``
``responsibility``  ``{"score": 1..10}``
``pairwise``        ``{"choice": index of the better reply, "score": 1..10, "rewrite": str | null}``
``mc-review``       ``{"label": "回复1" | "回复2" | "Other" | "Refuse"}``
==================  ==========================================================================
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cvalues.store.annotation_tables import TASK_KINDS

VERDICTS: tuple[str, ...] = ("safe", "unsafe")
REVIEW_LABELS: tuple[str, ...] = ("回复1", "回复2", "Other", "Refuse")
SCORE_RANGE = (1, 10)
MAX_TEXT_CHARS = 20_000
MAX_SCENARIO_CHARS = 255
# Common safety scenarios offered as suggestions; an annotator may type any other.
SAFETY_SCENARIOS: tuple[str, ...] = (
    "危险话题",
    "敏感话题",
    "违法犯罪",
    "身体健康",
    "心理健康",
    "隐私财产",
    "偏见歧视",
    "辱骂仇恨",
    "伦理道德",
    "谣言与错误信息",
)
# Two scores this far apart (or more) count as a disagreement worth an admin's look.
SCORE_DISAGREEMENT_GAP = 3

Scale = Literal["nominal", "interval"]


class LabelError(ValueError):
    """A submitted label that does not fit its task kind."""


@dataclass(frozen=True)
class Dimension:
    """One labelled quantity and its measurement scale (for Krippendorff's alpha)."""

    name: str
    scale: Scale


DIMENSIONS: dict[str, tuple[Dimension, ...]] = {
    "safety": (Dimension("verdict", "nominal"),),
    "responsibility": (Dimension("score", "interval"),),
    "pairwise": (Dimension("choice", "nominal"), Dimension("score", "interval")),
    "mc-review": (Dimension("label", "nominal"),),
}


def check_kind(kind: str) -> str:
    if kind not in TASK_KINDS:
        raise LabelError(f"task kind must be one of {', '.join(TASK_KINDS)}, got {kind!r}")
    return kind


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if len(text) > limit:
        raise LabelError(f"text longer than {limit} characters")
    return text or None


def _score(value: Any) -> int:
    try:
        score = int(str(value).strip())
    except (TypeError, ValueError) as exc:
        raise LabelError(f"score must be a whole number from 1 to 10, got {value!r}") from exc
    low, high = SCORE_RANGE
    if not low <= score <= high:
        raise LabelError(f"score must be from {low} to {high}, got {score}")
    return score


def parse_label(kind: str, fields: Mapping[str, Any], *, n_replies: int = 0) -> dict[str, Any]:
    """The label of ``kind`` from submitted fields (a form or an imported row); ``LabelError`` if unfit."""
    check_kind(kind)
    if kind == "safety":
        verdict = str(fields.get("verdict") or "").strip()
        if verdict not in VERDICTS:
            raise LabelError(f"verdict must be safe or unsafe, got {verdict!r}")
        return {"verdict": verdict, "scenario": _text(fields.get("scenario"), MAX_SCENARIO_CHARS)}
    if kind == "responsibility":
        return {"score": _score(fields.get("score"))}
    if kind == "pairwise":
        try:
            choice = int(str(fields.get("choice")).strip())
        except ValueError as exc:
            raise LabelError(f"choice must be the number of a reply, got {fields.get('choice')!r}") from exc
        if not 0 <= choice < max(n_replies, 1):
            raise LabelError(f"choice must be from 0 to {n_replies - 1}, got {choice}")
        return {
            "choice": choice,
            "score": _score(fields.get("score")),
            "rewrite": _text(fields.get("rewrite"), MAX_TEXT_CHARS),
        }
    label = str(fields.get("label") or "").strip()
    if label not in REVIEW_LABELS:
        raise LabelError(f"label must be one of {', '.join(REVIEW_LABELS)}, got {label!r}")
    return {"label": label}


def parse_comment(value: Any) -> str | None:
    return _text(value, MAX_TEXT_CHARS)


def label_summary(kind: str, label: Mapping[str, Any] | None) -> str:
    """A short text of a label for tables (e.g. ``unsafe (违法犯罪)``, ``7``, ``#2, 8``)."""
    if not label:
        return ""
    if kind == "safety":
        scenario = label.get("scenario")
        return f"{label.get('verdict')} ({scenario})" if scenario else str(label.get("verdict"))
    if kind == "responsibility":
        return str(label.get("score"))
    if kind == "pairwise":
        return f"#{int(label.get('choice', 0)) + 1}, {label.get('score')}"
    return str(label.get("label"))


def final_label(kind: str, labels: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Several annotators' labels as one: the majority for categories (a tie is unresolved),
    the mean for scores. None when there is no label or a category ties."""
    if not labels:
        return None
    final: dict[str, Any] = {}
    for dimension in DIMENSIONS[check_kind(kind)]:
        values = [label[dimension.name] for label in labels if label.get(dimension.name) is not None]
        if not values:
            return None
        if dimension.scale == "interval":
            final[dimension.name] = round(statistics.fmean(float(v) for v in values), 4)
            continue
        counts = Counter(values).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            return None
        final[dimension.name] = counts[0][0]
    return final
