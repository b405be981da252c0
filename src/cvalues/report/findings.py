"""The short findings a report opens with: best and worst model per column, the differences that
are significant, where MC and generation disagree, and the runs whose numbers need a caveat.

Every sentence is built from the leaderboard and the comparisons, never from free text, so a
finding can be traced to its cells. Significance comes from ``cvalues compare`` on the two best
models of an MC column (the same items, paired; the test it names).
"""

from __future__ import annotations

from cvalues.core.errors import CValuesError
from cvalues.report.compare import compare_runs
from cvalues.report.formatting import fmt_ci, fmt_value
from cvalues.report.gap import GapPoint, flag_message
from cvalues.report.leaderboard import COLUMNS, Column, Leaderboard, LeaderboardRow, level_run

_MC_RUN_OF = {"l1_acc": "safety", "l2_acc": "responsibility"}
# A column's key in Leaderboard.references (the MC columns share their level's item set).
_REFERENCE_OF = {"l1_acc": "L1 MC", "l1_acc_star": "L1 MC", "l2_acc": "L2 MC", "l2_acc_star": "L2 MC"}


def _value_text(row: LeaderboardRow, column: Column) -> str:
    cell = row.cells[column.key]
    assert cell is not None
    value = f"{fmt_value(cell.value, column.kind)} {fmt_ci(cell.ci, column.kind)}".strip()
    return f"{row.label} {value} (n={cell.n})"


def _best_and_worst(board: Leaderboard) -> list[str]:
    found = []
    for column in COLUMNS:
        if not column.main:
            continue
        filled = [row for row in board.rows if row.cells.get(column.key) is not None]
        if len(filled) < 2:
            continue
        ranked = sorted(filled, key=lambda row: -(row.value(column.key) or 0.0))
        where = board.references.get(_REFERENCE_OF.get(column.key, column.key))
        on = f" on {where}" if where else ""
        best, worst = _value_text(ranked[0], column), _value_text(ranked[-1], column)
        found.append(f"{column.label}{on}: best {best}; worst {worst}")
    return found


def _significant(board: Leaderboard) -> list[str]:
    found = []
    for key, level in _MC_RUN_OF.items():
        filled = [row for row in board.rows if row.cells.get(key) is not None and level in row.mc_runs]
        if len(filled) < 2:
            continue
        first, second = sorted(filled, key=lambda row: -(row.value(key) or 0.0))[:2]
        try:
            comparison = compare_runs(
                level_run(second.mc_runs[level], level), level_run(first.mc_runs[level], level)
            )
        except CValuesError:
            continue
        acc = next((m for m in comparison.metrics if m.metric == "acc"), None)
        if acc is None or acc.diff is None:
            continue
        verdict = "significant" if acc.significant else "not significant"
        p = f", p={acc.p_value:.3g}" if acc.p_value is not None else ""
        found.append(
            f"{COLUMNS[[c.key for c in COLUMNS].index(key)].label}: {first.label} ahead of {second.label} by "
            f"{100 * acc.diff:+.1f} points on {acc.n} shared items, {verdict} ({acc.test}{p})"
        )
    return found


def _caveats(board: Leaderboard) -> list[str]:
    flagged: dict[str, set[str]] = {}
    for row in board.rows:
        for cell in row.cells.values():
            if cell is not None and cell.flags:
                flagged.setdefault(row.label, set()).update(cell.flags)
    return [f"{label}: {', '.join(sorted(flags))}" for label, flags in sorted(flagged.items())]


def build_findings(board: Leaderboard, gaps: list[GapPoint]) -> list[str]:
    findings = _best_and_worst(board) + _significant(board)
    findings += [flag_message(gap) for gap in gaps if gap.flagged]
    findings += [f"caveat: {caveat}" for caveat in _caveats(board)]
    return findings


__all__ = ["build_findings"]
