"""The leaderboard: one row per evaluated model (spec + behaviour settings), the paper's columns.

Columns, in the paper's order: safety score, responsibility score, L1 MC acc / acc*, L2 MC acc /
acc*, each with its 95% interval; then diagnostics (unparsed and refused counts, pair
consistency, position bias, refusal rates). A cell no run fills is ``None`` — shown as "—",
never as 0.

Which run fills a cell is a defined choice, never "the newest": a column is read on one dataset
and item set (its name, sha256 and number of items), the one that the most models were run on
(then the larger, then by name), so every row of a column is measured on the same items. A row
whose runs are all on other data gets no number there, and a note says on what it was run.
Among several runs of one row on that dataset: the one with the fewest failed requests, then the
most items, then by run id; the row lists the others. Every cell names its dataset and n, and
flags a run with failed requests or one cut by ``--limit``. Human scores (task ``human``) take
precedence over automatic judges for the safety and responsibility columns, as the paper's
headline numbers are human; the cell says which it is. An MC run whose items mix the two levels
fills both levels' columns, each computed from its own items.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cvalues.report.identity import RunIdentity, identify, level_name
from cvalues.report.loading import Run, dict_block
from cvalues.scoring.metrics import ScoredSample, compute_mc_metrics

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
        Column(f"{prefix}_disputed", f"{name} disputed labels", "count", False),
        Column(f"{prefix}_unfinished", f"{name} unfinished (cut off in reasoning)", "count", False),
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
    dataset: str | None = None  # "name@sha256-prefix (n items)": what the number was measured on
    flags: tuple[str, ...] = ()  # "3 failed requests", "partial: 16 of 64 items"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "ci": list(self.ci) if self.ci else None,
            "n": self.n,
            "run_id": self.run_id,
            "run_path": self.run_path,
            "source": self.source,
            "dataset": self.dataset,
            "flags": list(self.flags),
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
    references: dict[str, str | None] = field(default_factory=dict)  # column group -> its dataset, as shown


def _ci(value: Any) -> tuple[float, float] | None:
    if (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
    ):
        return (float(value[0]), float(value[1]))
    return None


def dataset_key(run: Run) -> str:
    """What a run was measured on: dataset name, sha256 prefix and number of items."""
    d = dict_block(run.results, "dataset")
    sha = str(d.get("sha256") or "")[:12]
    return f"{d.get('name') or run.path.name}@{sha} ({d.get('n_items')} items)"


def item_set_key(run: Run) -> str:
    """Which items a run measured, for matching runs across models: for MC runs with samples, the
    items themselves (ids and labels; ``mc score`` files of two models name the same items
    differently), else the dataset's name, sha256 and size."""
    if run.is_mc and run.samples:
        ids = sorted(f"{s.get('id')}\x1f{s.get('label')}" for s in run.samples)
        digest = hashlib.sha256("\x1e".join(ids).encode("utf-8")).hexdigest()[:12]
        return f"{len(ids)} items {digest}"
    return dataset_key(run)


def run_flags(run: Run) -> tuple[str, ...]:
    """Why a number may not stand for the whole dataset: failed requests, a cut item set."""
    flags = []
    execution = dict_block(run.results, "execution")
    failed = execution.get("n_failed")
    if isinstance(failed, int) and failed:
        flags.append(f"{failed} failed requests")
    d = dict_block(run.results, "dataset")
    n, whole = d.get("n_items"), d.get("n_items_in_dataset")
    if isinstance(n, int) and isinstance(whole, int) and n < whole:
        flags.append(f"partial: {n} of {whole} items")
    return tuple(flags)


def mc_levels(run: Run) -> Counter[str]:
    """How many items of each level an MC run's samples hold."""
    return Counter(
        str(s["level"]) for s in run.samples or [] if s.get("level") in ("safety", "responsibility")
    )


def _level_results(run: Run, level: str) -> dict[str, Any]:
    """The MC results of one level: the run's own when it has one level, else recomputed from its samples."""
    levels = mc_levels(run)
    if len(levels) < 2:
        return run.results
    samples = [
        ScoredSample(
            id=str(s["id"]),
            label=s["label"],
            pred=s["pred"],
            pair_id=s.get("pair_id"),
            question_key=s.get("question_key") or "",
        )
        for s in run.samples or []
        if s.get("level") == level and s.get("pred") is not None and s.get("label") in ("回复1", "回复2")
    ]
    return compute_mc_metrics(samples)


def level_run(run: Run, level: str) -> Run:
    """The part of a mixed-level MC run that is of one level (the run itself when it has one level)."""
    if len(mc_levels(run)) < 2:
        return run
    samples = [s for s in run.samples or [] if s.get("level") == level]
    return Run(path=run.path, results={**run.results, **_level_results(run, level)}, samples=samples)


def _mc_cells(run: Run, prefix: str, level: str) -> dict[str, Cell | None]:
    r = _level_results(run, level)
    m = r["metrics"]
    total = m.get("total")
    where, flags = dataset_key(run), run_flags(run)

    def cell(value: Any, ci: Any, n: Any, reference: Any = None) -> Cell | None:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            return None
        ref = reference if isinstance(reference, (int, float)) else None
        n_items = n if isinstance(n, int) else None
        return Cell(value, _ci(ci), n_items, run.run_id, str(run.path), run.task, ref, where, flags)

    bias = dict_block(r, "position_bias")
    pairs = dict_block(r, "pair_consistency")
    return {
        f"{prefix}_acc": cell(m.get("acc"), m.get("acc_ci"), total),
        f"{prefix}_acc_star": cell(m.get("acc_star"), m.get("acc_star_ci"), m.get("pred_cnt")),
        f"{prefix}_unparsed": cell(m.get("need_check_cnt"), None, total),
        f"{prefix}_refused": cell(m.get("refuse_cnt"), None, total),
        f"{prefix}_disputed": cell(m.get("disputed_cnt"), None, total),
        f"{prefix}_unfinished": cell(m.get("unfinished_cnt"), None, total),
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
    n_items = n if isinstance(n, int) else None
    return Cell(
        value, _ci(ci), n_items, run.run_id, str(run.path), run.task, None, dataset_key(run), run_flags(run)
    )


def _score_cells(run: Run) -> dict[str, Cell | None]:
    cells = {name: score_metric(run, name) for name in SCORE_METRICS}
    unparsed = cells.pop("unparsed")
    # One judge run judges one thing; its unparsed share belongs to the score it produced.
    for score in ("safety_score", "responsibility_score"):
        cells[score.replace("_score", "_unparsed")] = unparsed if cells.get(score) else None
    return cells


def _pick(candidates: list[Run], what: str, notes: list[str], rank: dict[str, int] | None = None) -> Run:
    """Among runs of one row on the column's dataset: people before judges, then the fewest failed
    requests, the most items, and the run id (a fixed order, so a re-run never moves a cell)."""

    def order(run: Run) -> tuple[Any, ...]:
        execution = dict_block(run.results, "execution")
        failed, n = execution.get("n_failed"), dict_block(run.results, "dataset").get("n_items")
        return (
            (rank or {}).get(run.task, 9),
            failed if isinstance(failed, int) else 0,
            -n if isinstance(n, int) else 0,
            run.run_id,
        )

    ordered = sorted(candidates, key=order)
    chosen = ordered[0]
    if len(ordered) > 1:
        others = "; ".join(f"{r.run_id} in {r.path}" for r in ordered[1:])
        why = "the human one" if rank and chosen.task == "human" else "fewest failed requests, most items"
        notes.append(
            f"{what}: {len(ordered)} runs fill this cell; {chosen.run_id} is shown "
            f"({why}; not shown: {others})"
        )
    return chosen


def _reference(candidates: dict[str, list[Run]]) -> str | None:
    """The dataset a column is read on: the one the most rows were run on, then the largest, then by name."""
    rows_by_key: dict[str, set[str]] = defaultdict(set)
    size: dict[str, int] = {}
    for row_key, runs in candidates.items():
        for run in runs:
            rows_by_key[item_set_key(run)].add(row_key)
            n = dict_block(run.results, "dataset").get("n_items")
            size[item_set_key(run)] = n if isinstance(n, int) else 0
    if not rows_by_key:
        return None
    return min(rows_by_key, key=lambda key: (-len(rows_by_key[key]), -size[key], key))


def _describe(reference: str | None, runs: list[Run]) -> str | None:
    """A reference item set as a reader knows it: the dataset of a run measured on it."""
    return next((dataset_key(run) for run in runs if item_set_key(run) == reference), reference)


def _on_reference(runs: list[Run], reference: str | None, what: str, notes: list[str]) -> list[Run]:
    kept = [run for run in runs if item_set_key(run) == reference]
    if runs and not kept:
        elsewhere = ", ".join(sorted({dataset_key(run) for run in runs}))
        notes.append(
            f"{what}: not shown: this column is read on {reference}; this model was run on {elsewhere}"
        )
    return kept


def _build_row(
    key: str, ident: RunIdentity, runs: list[tuple[Run, RunIdentity]], references: dict[str, str | None]
) -> LeaderboardRow:
    row = LeaderboardRow(
        key=key,
        label=ident.label,
        spec=ident.spec,
        variant=dict(ident.variant),
        cells={c.key: None for c in COLUMNS},
    )
    for level, candidates in _mc_candidates(runs).items():
        what = f"{level_name(level)} MC"
        kept = _on_reference(candidates, references[what], what, row.notes)
        if not kept:
            continue
        chosen = _pick(kept, what, row.notes)
        row.mc_runs[level] = chosen
        row.cells.update(_mc_cells(chosen, level_name(level).lower(), level))
        note = next(i.level_note for r, i in runs if r is chosen)
        if note and len(mc_levels(chosen)) < 2:
            row.notes.append(f"{chosen.run_id}: {note}")
    score_cells = {run.path: _score_cells(run) for run, _ in runs if not run.is_mc}
    for metric, candidates in _score_candidates(runs, score_cells).items():
        label = COLUMN_BY_KEY[metric].label
        kept = _on_reference(candidates, references[metric], label, row.notes)
        if not kept:
            continue
        chosen = _pick(kept, label, row.notes, _SCORE_SOURCE_RANK)
        row.score_runs[metric] = chosen
        row.cells[metric] = score_cells[chosen.path][metric]
        if metric.endswith("_score"):
            unparsed_key = metric.replace("_score", "_unparsed")
            row.cells[unparsed_key] = score_cells[chosen.path][unparsed_key]
    return row


def _mc_candidates(runs: list[tuple[Run, RunIdentity]]) -> dict[str, list[Run]]:
    """Level -> the MC runs holding items of that level (a mixed run counts for both)."""
    found: dict[str, list[Run]] = {}
    for level in ("safety", "responsibility"):
        matching = [
            run for run, ident in runs if run.is_mc and (level in mc_levels(run) or ident.level == level)
        ]
        if matching:
            found[level] = matching
    return found


def _score_candidates(
    runs: list[tuple[Run, RunIdentity]], score_cells: dict[Path, dict[str, Cell | None]]
) -> dict[str, list[Run]]:
    found: dict[str, list[Run]] = {}
    for metric in ("safety_score", "responsibility_score", "refusal_rate", "over_refusal_rate"):
        matching = [run for run, _ in runs if not run.is_mc and score_cells[run.path][metric] is not None]
        if matching:
            found[metric] = matching
    return found


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
    references: dict[str, str | None] = {}
    for level in ("safety", "responsibility"):
        by_row = {key: _mc_candidates(members).get(level, []) for key, members in grouped.items()}
        references[f"{level_name(level)} MC"] = _reference(by_row)
    cells = {run.path: _score_cells(run) for run in runs if not run.is_mc}
    for metric in ("safety_score", "responsibility_score", "refusal_rate", "over_refusal_rate"):
        by_row = {key: _score_candidates(members, cells).get(metric, []) for key, members in grouped.items()}
        references[metric] = _reference(by_row)
    rows = []
    for key, members in grouped.items():
        row = _build_row(key, members[0][1], members, references)
        if any(row.cells.values()) or row.notes:  # a model measured only on other items is listed, saying so
            rows.append(row)
            continue
        for run, _ in members:  # e.g. a pairwise judge run: listed with the runs, not on the board
            run.warnings.append(f"{run.path}: no leaderboard figure in this {run.task} run")
    rows.sort(key=_sort_key)
    shown = {key: _describe(reference, runs) for key, reference in references.items()}
    return Leaderboard(rows=rows, identities=identities, references=shown)
