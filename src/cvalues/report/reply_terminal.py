"""Terminal tables for ``cvalues generate`` and ``cvalues judge`` results (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def _pct(metric: dict[str, Any] | None) -> str:
    if not metric or metric.get("value") is None:
        return "—"
    return f"{100 * metric['value']:.1f}"


def _pct_ci(metric: dict[str, Any] | None) -> str:
    ci = (metric or {}).get("ci")
    return "—" if not ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _score(metric: dict[str, Any] | None) -> str:
    return "—" if not metric or metric.get("value") is None else f"{metric['value']:.2f}"


def _score_ci(metric: dict[str, Any] | None) -> str:
    ci = (metric or {}).get("ci")
    return "—" if not ci else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _count(metric: dict[str, Any] | None) -> str:
    if not metric:
        return ""
    return f"{metric['count']}/{metric['n']}" if "count" in metric else str(metric["n"])


def _head(title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("metric", "value", "95% CI", "n"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    return table


def _group_table(
    title: str, groups: dict[str, dict[str, Any]], columns: list[tuple[str, str, bool]]
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("group")
    table.add_column("n", justify="right")
    for label, _, _ in columns:
        table.add_column(label, justify="right")
    for key, m in groups.items():
        cells = [(_score(m.get(name)) if is_score else _pct(m.get(name))) for _, name, is_score in columns]
        table.add_row(escape(key), str(m.get("n_replies", "")), *cells)
    return table


def _breakdowns(results: dict[str, Any], columns: list[tuple[str, str, bool]], console: Console) -> None:
    for key, title in (("by_level", "by level"), ("by_domain", "by domain"), ("by_scenario", "by scenario")):
        if results.get(key):
            console.print(_group_table(title, results[key], columns))


def print_generate_results(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    m = results["metrics"]
    head = _head(f"CValues generate · {results['model']['spec']} · {results['dataset']['name']}")
    head.add_row("replies", str(m["n_replies"]), "", "")
    for label, key in (
        ("refusal rate %", "refusal_rate"),
        ("over-refusal % (should answer)", "over_refusal_rate"),
        ("refusal % (should refuse)", "refusal_rate_should_refuse"),
    ):
        head.add_row(label, _pct(m[key]), _pct_ci(m[key]), _count(m[key]))
    if m["n_failed"]:
        head.add_row("[red]failed requests[/]", str(m["n_failed"]), "", "")
    console.print(head)
    _breakdowns(
        results,
        [("refusal %", "refusal_rate", False), ("over-refusal %", "over_refusal_rate", False)],
        console,
    )


def print_judge_results(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    m = results["metrics"]
    rubric = results["rubric"]
    head = _head(f"CValues judge · {results['judge']['spec']} · rubric {rubric['name']}@{rubric['version']}")
    head.add_row("replies judged", str(m["n_judged"]), "", "")
    columns: list[tuple[str, str, bool]] = []
    if m.get("safety_score") is not None:
        for label, key in (
            ("safety score % (controversial = unsafe)", "safety_score_strict"),
            ("safety score % (controversial = safe)", "safety_score_lenient"),
        ):
            head.add_row(label, _pct(m[key]), _pct_ci(m[key]), _count(m[key]))
        columns.append(("safety %", "safety_score", False))
    if m.get("responsibility_score") is not None:
        score = m["responsibility_score"]
        head.add_row("responsibility score", _score(score), _score_ci(score), str(score["n"]))
        distribution = " ".join(f"{k}:{v}" for k, v in score["distribution"].items())
        head.add_row("score distribution", distribution, "", "")
        columns.append(("responsibility", "responsibility_score", True))
    pairwise = m.get("pairwise")
    if pairwise is not None:
        for label, key in (
            ("first run better %", "first_better"),
            ("second run better %", "second_better"),
            ("tie %", "tie"),
            ("consistency across orders %", "consistency"),
            ("position bias (% A) ", "position_bias_a"),
        ):
            head.add_row(label, _pct(pairwise[key]), _pct_ci(pairwise[key]), _count(pairwise[key]))
    else:
        for label, key in (("refusal rate %", "refusal_rate"), ("over-refusal %", "over_refusal_rate")):
            head.add_row(label, _pct(m[key]), _pct_ci(m[key]), _count(m[key]))
        columns.append(("refusal %", "refusal_rate", False))
    head.add_row("unparsed %", _pct(m["unparsed"]), _pct_ci(m["unparsed"]), _count(m["unparsed"]))
    if m["n_failed"]:
        head.add_row("[red]failed judge requests[/]", str(m["n_failed"]), "", "")
    console.print(head)
    columns.append(("unparsed %", "unparsed", False))
    _breakdowns(results, columns, console)


__all__ = ["print_generate_results", "print_judge_results"]
