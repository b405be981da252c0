"""Per-domain, per-scenario and per-difficulty tables, and each model's weakest domains.

The paper's advice is to add targeted data for the domains where a model is weakest. A group is
called out only with enough items (``min_n``) to mean something; it is marked "below overall"
when its whole 95% interval lies under the model's overall figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cvalues.report.identity import level_name
from cvalues.report.leaderboard import Leaderboard
from cvalues.report.loading import Run

DIMENSIONS = (("domain", "by_domain"), ("scenario", "by_scenario"), ("difficulty", "by_difficulty"))
# Dimensions one can add training data for (difficulty is a property of the test, not a topic).
TARGETABLE = ("domain", "scenario")
DEFAULT_MIN_N = 10
DEFAULT_WEAKEST = 3


@dataclass(frozen=True)
class GroupStat:
    group: str
    value: float | None
    ci: tuple[float, float] | None
    n: int | None  # items
    n_questions: int | None = None  # the clusters the interval is computed over

    @property
    def size(self) -> str:
        """``8 items, 4 questions`` (or just the items when questions are not known)."""
        items = "—" if self.n is None else f"{self.n} items"
        return items if self.n_questions is None else f"{items}, {self.n_questions} questions"

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "value": self.value,
            "ci": list(self.ci) if self.ci else None,
            "n": self.n,
            "n_questions": self.n_questions,
        }


@dataclass(frozen=True)
class Breakdown:
    model: str
    metric: str  # e.g. "L2 MC acc", "safety score"
    dimension: str
    run_id: str
    overall: float | None
    groups: tuple[GroupStat, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "dimension": self.dimension,
            "run_id": self.run_id,
            "overall": self.overall,
            "groups": [g.to_dict() for g in self.groups],
        }


@dataclass(frozen=True)
class Weakness:
    model: str
    metric: str
    dimension: str
    group: GroupStat
    overall: float | None

    @property
    def below_overall(self) -> bool:
        return self.overall is not None and self.group.ci is not None and self.group.ci[1] < self.overall

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "dimension": self.dimension,
            **self.group.to_dict(),
            "overall": self.overall,
            "below_overall": self.below_overall,
        }


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_number(v) is not None for v in value):
        return (float(value[0]), float(value[1]))
    return None


def _mc_groups(groups: dict[str, Any]) -> tuple[GroupStat, ...]:
    return tuple(
        GroupStat(
            str(name),
            _number(g.get("acc")),
            _interval(g.get("acc_ci")),
            g.get("total"),
            g.get("n_questions") if isinstance(g.get("n_questions"), int) else None,
        )
        for name, g in groups.items()
        if isinstance(g, dict)
    )


def _score_groups(groups: dict[str, Any], metric: str) -> tuple[GroupStat, ...]:
    """A generation run's groups: ``{group: {metric: {value, ci, n}}}`` or ``{group: {value, ci, n}}``."""
    out: list[GroupStat] = []
    for name, g in groups.items():
        if not isinstance(g, dict):
            continue
        stat = g.get(metric, g)
        if isinstance(stat, dict) and _number(stat.get("value")) is not None:
            n = stat.get("n")
            out.append(
                GroupStat(
                    str(name),
                    _number(stat["value"]),
                    _interval(stat.get("ci")),
                    n if isinstance(n, int) else None,
                )
            )
    return tuple(out)


def _run_breakdowns(model: str, run: Run, metric_label: str, score_metric: str | None) -> list[Breakdown]:
    found: list[Breakdown] = []
    for dimension, key in DIMENSIONS:
        groups = run.results.get(key)
        if not isinstance(groups, dict) or not groups:
            continue
        if score_metric is None:
            stats, overall = _mc_groups(groups), _number(run.results["metrics"].get("acc"))
        else:
            stats = _score_groups(groups, score_metric)
            raw = run.results["metrics"].get(score_metric)
            overall = _number(raw.get("value") if isinstance(raw, dict) else raw)
        if stats:
            found.append(Breakdown(model, metric_label, dimension, run.run_id, overall, stats))
    return found


def build_breakdowns(board: Leaderboard) -> list[Breakdown]:
    """Every breakdown of every run shown on the leaderboard, in leaderboard order."""
    out: list[Breakdown] = []
    for row in board.rows:
        for level, run in sorted(row.mc_runs.items()):
            out += _run_breakdowns(row.label, run, f"{level_name(level)} MC acc", None)
        for metric in ("safety_score", "responsibility_score"):
            if metric in row.score_runs:
                out += _run_breakdowns(row.label, row.score_runs[metric], metric.replace("_", " "), metric)
    return out


def weakest_groups(
    breakdowns: list[Breakdown], *, min_n: int = DEFAULT_MIN_N, k: int = DEFAULT_WEAKEST
) -> list[Weakness]:
    """The ``k`` lowest groups (domain or scenario, at least ``min_n`` items) of each model and metric."""
    out: list[Weakness] = []
    for b in breakdowns:
        if b.dimension not in TARGETABLE:
            continue
        eligible = [
            g for g in b.groups if g.value is not None and (g.n or 0) >= min_n and g.group != "unknown"
        ]
        if len(eligible) < 2:  # one group is the whole set: nothing to single out
            continue
        eligible.sort(key=lambda g: (g.value, g.group))
        out += [Weakness(b.model, b.metric, b.dimension, g, b.overall) for g in eligible[:k]]
    return out
