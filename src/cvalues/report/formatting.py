"""How numbers are shown, the same way in HTML, Markdown and the terminal.

A missing value is "—", never 0. Percentages carry one decimal, 1–10 scores two.
"""

from __future__ import annotations

from collections.abc import Sequence

MISSING = "—"


def fmt_value(value: float | int | None, kind: str) -> str:
    if value is None:
        return MISSING
    if kind == "percent":
        return f"{100 * value:.1f}%"
    if kind == "score":
        return f"{value:.2f}"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def fmt_ci(ci: Sequence[float] | None, kind: str) -> str:
    if not ci:
        return ""
    if kind == "percent":
        return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"
    return f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def fmt_cell(value: float | int | None, ci: Sequence[float] | None, kind: str) -> str:
    """``53.3% [41.0, 65.0]``, or "—"."""
    text = fmt_value(value, kind)
    interval = fmt_ci(ci, kind) if value is not None else ""
    return f"{text} {interval}" if interval else text


def fmt_diff(value: float | None, kind: str = "percent") -> str:
    if value is None:
        return MISSING
    return f"{100 * value:+.1f} pp" if kind == "percent" else f"{value:+.2f}"


def fmt_p(p: float | None) -> str:
    if p is None:
        return MISSING
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def metric_kind(metric: str) -> str:
    """Responsibility is a 1–10 mean; every other compared metric is a proportion."""
    return "score" if metric == "responsibility_score" else "percent"


def truncate(text: str | None, limit: int) -> str:
    """Untrusted model output is shown bounded: at most ``limit`` characters, with what was cut."""
    if text is None:
        return ""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"
