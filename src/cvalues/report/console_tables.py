"""Terminal output of ``cvalues report`` and ``cvalues compare`` (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvalues.report.build import Report
from cvalues.report.compare import Comparison, MetricComparison
from cvalues.report.formatting import fmt_cell, fmt_p, fmt_value, metric_kind
from cvalues.report.gap import flag_message
from cvalues.report.leaderboard import COLUMNS

# Terminal headers are short: a leaderboard must fit 80 columns.
_SHORT = {
    "safety_score": "Safety",
    "responsibility_score": "Resp. 1–10",
    "l1_acc": "L1 acc",
    "l1_acc_star": "L1 acc*",
    "l2_acc": "L2 acc",
    "l2_acc_star": "L2 acc*",
}


def print_report(report: Report, console: Console) -> None:
    table = Table(title="CValues leaderboard (95% CI; — = not measured)", title_justify="left")
    table.add_column("model", overflow="fold")
    main = [c for c in COLUMNS if c.main]
    for c in main:
        table.add_column(_SHORT.get(c.key, c.label), justify="right")
    for row in report.board.rows:
        cells = [row.cells.get(c.key) for c in main]
        table.add_row(
            escape(row.label),
            *(
                fmt_cell(cell.value if cell else None, cell.ci if cell else None, c.kind)
                for c, cell in zip(main, cells, strict=True)
            ),
        )
    console.print(table)
    for row in report.board.rows:
        for note in row.notes:
            console.print(f"[dim]note[/] {escape(row.label)}: {escape(note)}")
    for w in report.weakest:
        if w.below_overall:
            console.print(
                f"[yellow]weak[/] {escape(w.model)} · {escape(w.metric)} · {escape(w.group.group)}: "
                f"{fmt_cell(w.group.value, w.group.ci, 'percent')} ({w.group.size}) "
                f"vs overall {fmt_value(w.overall, 'percent')}"
            )
    for gap in report.gaps:
        if gap.flagged:
            console.print(f"[red]gap[/] {escape(flag_message(gap))}")
    for run, verification in report.failed_verifications:
        console.print(f"[red]mismatch[/] {escape(str(run.path))}: {escape(verification.detail)}")
        for line in verification.mismatches[:5]:
            console.print(f"    {escape(line)}")
    for skipped in report.skipped:
        console.print(f"[yellow]skipped[/] {escape(skipped.reason)}")
    for run in report.runs:
        for warning in run.warnings:
            console.print(f"[yellow]warning[/] {escape(warning)}")


def _verdict(m: MetricComparison) -> str:
    if m.significant:
        return "[bold]yes, B higher[/]" if (m.diff or 0) > 0 else "[bold]yes, B lower[/]"
    return "no"


def _diff_with_ci(m: MetricComparison) -> str:
    """``-39.1 [-53.1, -25.0]`` (percentage points), or the 1–10 scale for responsibility."""
    kind = metric_kind(m.metric)
    if m.diff is None:
        return "—"
    scale = 100 if kind == "percent" else 1
    digits = 1 if kind == "percent" else 2
    ci = f" [{scale * m.ci[0]:+.{digits}f}, {scale * m.ci[1]:+.{digits}f}]" if m.ci else ""
    return f"{scale * m.diff:+.{digits}f}{ci}"


def _metric_row(name: str, m: MetricComparison, *, with_test: bool) -> list[str]:
    kind = metric_kind(m.metric)
    # A ratio's denominators differ between runs (acc*: answered items): show each run's n.
    n = str(m.n) if m.n_a is None or (m.n_a == m.n_b == m.n) else f"{m.n_a}/{m.n_b}"
    cells = [escape(name), n, fmt_value(m.a, kind), fmt_value(m.b, kind), _diff_with_ci(m)]
    if with_test:
        cells.append("sign-flip" if m.test.startswith("sign-flip") else "A/B swap")
        return [*cells, fmt_p(m.p_value), _verdict(m)]
    return [*cells, fmt_p(m.p_value), fmt_p(m.p_adjusted), _verdict(m)]


def _table(title: str, first: str, *, with_test: bool) -> Table:
    table = Table(title=title, title_justify="left")
    tail = ["test", "p"] if with_test else ["p", "p (Holm)"]
    names = [first, "n", "A", "B", "B − A [95% CI]", *tail, "significant"]
    for name in names:
        table.add_column(name, justify="left" if name in (first, "test", "significant") else "right")
    return table


def print_comparison(comparison: Comparison, console: Console) -> None:
    console.print(f"A: {escape(str(comparison.run_a.path))} ({escape(comparison.run_a.run_id)})")
    console.print(f"B: {escape(str(comparison.run_b.path))} ({escape(comparison.run_b.run_id)})")
    console.print(
        f"{comparison.n_matched} item(s) matched; same prompt sent for {comparison.n_same_prompt}; "
        "B − A in percentage points (responsibility: points of 1–10); n: items each metric uses (A/B); "
        "tests over whole questions "
        "(sign-flip permutation; acc* and 回复1 share: A/B swap permutation, paired bootstrap interval); "
        "significant at p < 0.05, per domain after Holm's correction"
    )
    table = _table("Paired comparison", "metric", with_test=True)
    for m in comparison.metrics:
        table.add_row(*_metric_row(m.metric, m, with_test=True))
    console.print(table)
    if comparison.by_domain:
        main = comparison.metrics[0].metric if comparison.metrics else ""
        per_domain = _table(f"By domain ({escape(main)})", "domain", with_test=False)
        for domain, m in comparison.by_domain:
            per_domain.add_row(*_metric_row(domain, m, with_test=False))
        console.print(per_domain)
    for note in comparison.notes:
        console.print(f"[dim]note[/] {escape(note)}")
