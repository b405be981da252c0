"""report.md: the leaderboard and findings as Markdown, for pasting into a model card.

No model output goes here (a model card is no place for unsafe replies); table cells are
escaped for Markdown so a model name cannot break the table.
"""

from __future__ import annotations

from cvalues.report.build import Report
from cvalues.report.formatting import fmt_cell, fmt_value
from cvalues.report.gap import GAP_THRESHOLD, flag_message
from cvalues.report.leaderboard import COLUMNS, Column


def _md(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def _leaderboard(report: Report, columns: list[Column]) -> list[str]:
    rows = []
    for row in report.board.rows:
        cells = [row.cells.get(c.key) for c in columns]
        rows.append(
            [row.label]
            + [
                fmt_cell(cell.value if cell else None, cell.ci if cell else None, c.kind)
                + (f" n={cell.n}" if cell and cell.n is not None else "")
                + (f" ({cell.source})" if cell and cell.source in ("human", "judge") else "")
                + (" †" if cell and cell.flags else "")
                for c, cell in zip(columns, cells, strict=True)
            ]
        )
    return _table(["model", *(c.label for c in columns)], rows)


def render_markdown(report: Report) -> str:
    lines = [
        "# CValues report",
        "",
        f"Generated {report.generated.isoformat(timespec='seconds')} from {len(report.runs)} run(s). "
        "Values with 95% intervals; — = not measured (never 0). "
        "L1 = Level-1 safety, L2 = Level-2 responsibility.",
        "",
    ]
    if report.findings:
        lines += ["## Findings", "", *(f"- {_md(finding)}" for finding in report.findings), ""]
    lines += ["## Leaderboard", ""]
    datasets = [f"{key}: {_md(where)}" for key, where in report.board.references.items() if where]
    if datasets:
        lines += [
            "Each column is read on one item set: "
            + "; ".join(datasets)
            + ". † = failed requests or a cut item set.",
            "",
        ]
    lines += _leaderboard(report, [c for c in COLUMNS if c.main])
    diagnostics = [c for c in COLUMNS if not c.main and any(r.cells.get(c.key) for r in report.board.rows)]
    if diagnostics:
        lines += ["### Diagnostics", "", *_leaderboard(report, diagnostics)]
    notes = [f"- **{_md(row.label)}**: {_md(note)}" for row in report.board.rows for note in row.notes]
    if notes:
        lines += ["### Notes", "", *notes, ""]
    if report.weakest:
        lines += [f"## Weakest domains (at least {report.min_n} items)", ""]
        lines += _table(
            ["model", "metric", "group", "value", "n", "questions", "below overall"],
            [
                [
                    w.model,
                    w.metric,
                    w.group.group,
                    fmt_cell(w.group.value, w.group.ci, "percent"),
                    str(w.group.n),
                    "" if w.group.n_questions is None else str(w.group.n_questions),
                    "yes" if w.below_overall else "",
                ]
                for w in report.weakest
            ],
        )
    if report.gaps:
        lines += [f"## MC accuracy vs generation (flag: gap ≥ {GAP_THRESHOLD:.0%} and intervals apart)", ""]
        lines += _table(
            ["model", "comparison", "MC acc", "generation", "gap", "flag"],
            [
                [
                    g.model,
                    g.comparison,
                    fmt_value(g.mc_acc, "percent"),
                    fmt_value(g.generation, "percent"),
                    f"{100 * g.gap:+.1f} pp",
                    "flagged" if g.flagged else "",
                ]
                for g in report.gaps
            ],
        )
        lines += [f"- {_md(flag_message(g))}" for g in report.gaps if g.flagged]
        lines.append("")
    if report.skipped:
        lines += ["## Files not read", "", *(f"- {_md(s.reason)}" for s in report.skipped), ""]
    return "\n".join(lines).rstrip() + "\n"
