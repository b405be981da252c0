"""The leaderboard: one row per evaluated model (spec + behaviour settings), the paper's columns.

Columns, in the paper's order: safety score, responsibility score, L1 MC acc / acc*, L2 MC acc /
acc*, each with its 95% interval; then diagnostics (unparsed and refused counts, pair
consistency, position bias, refusal rates). A cell no run fills is ``None`` — shown as "—",
never as 0. When several runs fill the same cell, the newest is shown and the row says so.
Human scores (task ``human``) take precedence over automatic judges for the safety and
responsibility columns, as the paper's headline numbers are human.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cvalues.report.identity import RunIdentity, identify, level_name
from cvalues.report.loading import Run

Kind = Literal["percent", "score", "count"]
SCORE_METRICS = ("safety_score", "responsibility_score", "refusal_rate", "over_refusal_rate", "unparsed")
# Which kind of score run wins a generation column: people first, then judges, then generation.
_SCORE_SOURCE_RANK = {"human": 0, "judge": 1, "generate": 2}


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind
    main: bool


def _mc_columns(prefix: str, name: str) -> tuple[Column, ...]:
    return (
        Column(f"{prefix}_unparsed", f"{name} unparsed", "count", False),
        Column(f"{prefix}_refused", f"{name} refused", "count", False),
        Column(f"{prefix}_pair_consistency", f"{name} pair consistency", "percent", False),
        # First-position picks: 回复1, or option A for lettered items (per-letter shares: results.json).
        Column(f"{prefix}_position_bias", f"{name} % 回复1 picks", "percent", False),
    )


COLUMNS: tuple[Column, ...] = (
    Column("safety_score", "Safety score", "percent", True),
    Column("responsibility_score", "Responsibility score (1–10)", "score", True),
    Column("l1_acc", "L1 MC acc", "percent", True),
    Column("l1_acc_star", "L1 MC acc*", "percent", True),
    Column("l2_acc", "L2 MC acc", "percent", True),
    Column("l2_acc_star", "L2 MC acc*", "percent", True),
    *_mc_columns("l1", "L1 MC"),
    *_mc_columns("l2", "L2 MC"),
    Column("safety_unparsed", "safety judgments unparsed", "percent", False),
    Column("responsibility_unparsed", "responsibility judgments unparsed", "percent", False),
    Column("refusal_rate", "refusal rate", "percent", False),
    Column("over_refusal_rate", "over-refusal rate", "percent", False),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}


@dataclass(frozen=True)
class Cell:
    value: float | int
    ci: tuple[float, float] | None
    n: int | None
    run_id: str
    run_path: str
    source: str  # the task that produced it: mc, mc-score, judge, human, generate
    reference: float | None = None  # position bias: the labels' own share of 回复1

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "ci": list(self.ci) if self.ci else None,
            "n": self.n,
            "run_id": self.run_id,
            "run_path": self.run_path,
            "source": self.source,
        }
        if self.reference is not None:
            out["reference"] = self.reference
        return out


@dataclass
class LeaderboardRow:
    key: str
    label: str
    spec: str
    variant: dict[str, str]
    cells: dict[str, Cell | None]
    mc_runs: dict[str, Run] = field(default_factory=dict)  # level -> the run shown
    score_runs: dict[str, Run] = field(default_factory=dict)  # metric -> the run shown
    notes: list[str] = field(default_factory=list)

    def value(self, key: str) -> float | None:
        cell = self.cells.get(key)
        return None if cell is None else float(cell.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.label,
            "spec": self.spec,
            "variant": self.variant,
            "cells": {c.key: (cell.to_dict() if (cell := self.cells.get(c.key)) else None) for c in COLUMNS},
            "runs": sorted({str(r.path) for r in [*self.mc_runs.values(), *self.score_runs.values()]}),
            "notes": self.notes,
        }


@dataclass
class Leaderboard:
    rows: list[LeaderboardRow]
    identities: dict[Path, RunIdentity]


def _ci(value: Any) -> tuple[float, float] | None:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
    ):
        return (float(value[0]), float(value[1]))
    return None


def _mc_cells(run: Run, prefix: str) -> dict[str, Cell | None]:
    r = run.results
    m = r["metrics"]
    total = m.get("total")

    def cell(value: Any, ci: Any, n: Any, reference: Any = None) -> Cell | None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        ref = reference if isinstance(reference, (int, float)) else None
        return Cell(
            value, _ci(ci), n if isinstance(n, int) else None, run.run_id, str(run.path), run.task, ref
        )

    bias = r.get("position_bias") if isinstance(r.get("position_bias"), dict) else {}
    pairs = r.get("pair_consistency") if isinstance(r.get("pair_consistency"), dict) else {}
    return {
        f"{prefix}_acc": cell(m.get("acc"), m.get("acc_ci"), total),
        f"{prefix}_acc_star": cell(m.get("acc_star"), m.get("acc_star_ci"), m.get("pred_cnt")),
        f"{prefix}_unparsed": cell(m.get("need_check_cnt"), None, total),
        f"{prefix}_refused": cell(m.get("refuse_cnt"), None, total),
        f"{prefix}_pair_consistency": cell(pairs.get("consistency"), pairs.get("ci"), pairs.get("n_pairs")),
        f"{prefix}_position_bias": _position_cell(bias, cell),
    }


def _position_cell(bias: dict[str, Any], cell: Any) -> Any:
    """The share of first-position picks: 回复1 for reply items, option A for lettered ones."""
    shares = bias.get("letter_shares")
    if bias.get("share_reply1") is None and isinstance(shares, dict) and shares.get("letters"):
        first = shares["letters"].get("A") or {}
        return cell(first.get("pred_share"), None, shares.get("n_picks"), first.get("label_share"))
    return cell(bias.get("share_reply1"), bias.get("ci"), bias.get("n"), bias.get("label_share_reply1"))


def score_metric(run: Run, name: str) -> Cell | None:
    """A generation metric as ``{"value", "ci", "n"}`` (or a bare number); None when absent."""
    raw = run.results.get("metrics", {}).get(name)
    if isinstance(raw, dict):
        value, ci, n = raw.get("value"), raw.get("ci"), raw.get("n")
    else:
        value, ci, n = raw, None, None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return Cell(value, _ci(ci), n if isinstance(n, int) else None, run.run_id, str(run.path), run.task)


def _score_cells(run: Run) -> dict[str, Cell | None]:
    cells = {name: score_metric(run, name) for name in SCORE_METRICS}
    unparsed = cells.pop("unparsed")
    # One judge run judges one thing; its unparsed share belongs to the score it produced.
    for score in ("safety_score", "responsibility_score"):
        cells[score.replace("_score", "_unparsed")] = unparsed if cells.get(score) else None
    return cells


def _pick_newest(
    candidates: list[Run], what: str, notes: list[str], rank: dict[str, int] | None = None
) -> Run:
    def order(run: Run) -> tuple[int, Any]:
        return (-(rank or {}).get(run.task, 0), run.created, str(run.path))

    chosen = max(candidates, key=order)
    if len(candidates) > 1:
        others = "; ".join(sorted(f"{r.run_id} in {r.path}" for r in candidates if r is not chosen))
        preferred = "the human one" if rank and chosen.task == "human" else "the newest"
        notes.append(
            f"{what}: {len(candidates)} runs fill this cell; {preferred}, {chosen.run_id} in {chosen.path} "
            f"({chosen.created:%Y-%m-%d %H:%M:%S}), is shown (not shown: {others})"
        )
    return chosen


def _build_row(key: str, ident: RunIdentity, runs: list[tuple[Run, RunIdentity]]) -> LeaderboardRow:
    row = LeaderboardRow(
        key=key,
        label=ident.label,
        spec=ident.spec,
        variant=dict(ident.variant),
        cells={c.key: None for c in COLUMNS},
    )
    for level in ("safety", "responsibility"):
        candidates = [run for run, i in runs if run.is_mc and i.level == level]
        if not candidates:
            continue
        prefix = level_name(level).lower()
        chosen = _pick_newest(candidates, f"{level_name(level)} MC", row.notes)
        row.mc_runs[level] = chosen
        row.cells.update(_mc_cells(chosen, prefix))
        note = next(i.level_note for r, i in runs if r is chosen)
        if note:
            row.notes.append(f"{chosen.run_id}: {note}")
    score_cells = {run.path: _score_cells(run) for run, _ in runs if not run.is_mc}
    for metric in ("safety_score", "responsibility_score", "refusal_rate", "over_refusal_rate"):
        candidates = [run for run, _ in runs if not run.is_mc and score_cells[run.path][metric] is not None]
        if not candidates:
            continue
        chosen = _pick_newest(candidates, COLUMN_BY_KEY[metric].label, row.notes, _SCORE_SOURCE_RANK)
        row.score_runs[metric] = chosen
        row.cells[metric] = score_cells[chosen.path][metric]
        if metric.endswith("_score"):
            unparsed_key = metric.replace("_score", "_unparsed")
            row.cells[unparsed_key] = score_cells[chosen.path][unparsed_key]
    return row


def _sort_key(row: LeaderboardRow) -> tuple[Any, ...]:
    # Best first by the paper's columns in order; a missing value sorts after any number.
    values = [row.value(c.key) for c in COLUMNS if c.main]
    return (*[(v is None, -(v or 0.0)) for v in values], row.label)


def build_leaderboard(runs: list[Run], *, group_by: str = "settings") -> Leaderboard:
    identities = {run.path: identify(run, group_by=group_by) for run in runs}
    grouped: dict[str, list[tuple[Run, RunIdentity]]] = {}
    for run in runs:
        ident = identities[run.path]
        grouped.setdefault(ident.row_key, []).append((run, ident))
    rows = []
    for key, members in grouped.items():
        row = _build_row(key, members[0][1], members)
        if any(row.cells.values()):
            rows.append(row)
            continue
        for run, _ in members:  # e.g. a pairwise judge run: listed with the runs, not on the board
            run.warnings.append(f"{run.path}: no leaderboard figure in this {run.task} run")
    rows.sort(key=_sort_key)
    return Leaderboard(rows=rows, identities=identities)
