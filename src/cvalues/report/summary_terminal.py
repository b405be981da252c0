"""The end of ``cvalues eval`` in the terminal: the paper's row, each task, and what to do next."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvalues.report.formatting import MISSING, fmt_ci, fmt_value


def _row_cells(cell: dict[str, Any]) -> tuple[str, str, str, str]:
    """(value, 95% CI, n, source) for one column of the paper's row."""
    if "acc" in cell:
        value = f"{fmt_value(cell['acc'], 'percent')} / {fmt_value(cell['acc_star'], 'percent')}"
        ci = fmt_ci(cell.get("acc_ci"), "percent")
        n = f"{cell.get('n')} ({cell.get('answered')} answered)"
        return value, ci, n, cell["task"]
    if "value" in cell:
        kind = "score" if "1-10" in cell["label"] else "percent"
        return (
            fmt_value(cell["value"], kind),
            fmt_ci(cell.get("ci"), kind),
            str(cell.get("n") or 0),
            cell["task"],
        )
    if cell.get("failed"):
        return "[red]failed[/]", "", "", f"{cell['task']}: {escape(cell['failed'])}"
    if cell.get("needs"):
        return f"needs {cell['needs']}", "", "", cell.get("task", "")
    return MISSING, "", "", escape(cell.get("skipped") or cell.get("missing") or "")


def print_summary(summary: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    model = summary["model"]["spec"]
    table = Table(
        title=f"CValues · {model} · suite {summary['suite']['name']} "
        f"(chance on MC: {summary['chance']['mc_acc']:.0%})",
        title_justify="left",
    )
    for name in ("column", "value", "95% CI", "n", "from"):
        table.add_column(name, justify="right" if name in ("value", "95% CI", "n") else "left")
    for cell in summary["row"].values():
        table.add_row(cell["label"], *_row_cells(cell))
    console.print(table)

    tasks = Table(title="tasks", title_justify="left")
    for name in ("task", "status", "items", "sent", "cached", "headline"):
        tasks.add_column(name, justify="right" if name in ("items", "sent", "cached") else "left")
    for name, info in summary["tasks"].items():
        execution = info.get("execution") or {}
        metrics = info.get("metrics") or {}
        headline = ""
        if "acc" in metrics:
            headline = (
                f"acc {fmt_value(metrics['acc'], 'percent')} {fmt_ci(metrics.get('acc_ci'), 'percent')}, "
                f"need check {metrics.get('need_check_cnt')}"
            )
        elif "accuracy" in metrics:
            headline = (
                f"pair accuracy {fmt_value(metrics['accuracy'], 'percent')} "
                f"{fmt_ci(metrics.get('accuracy_ci'), 'percent')}"
            )
        elif "refusal_rate" in metrics:
            headline = f"refusal {fmt_value(metrics['refusal_rate'].get('value'), 'percent')}"
        status = info["status"]
        if status == "failed":
            status = f"[red]failed[/] {escape(info.get('error') or '')}"
        elif status == "skipped":
            status = f"skipped: {escape(info.get('reason') or '')}"
        tasks.add_row(
            name,
            status,
            str((info.get("dataset") or {}).get("n_items") or ""),
            str(execution.get("n_sent", "")),
            str(execution.get("n_cached", "")),
            headline,
        )
    console.print(tasks)
    for note in summary["notes"]:
        console.print(f"• {escape(note)}")


__all__ = ["print_summary"]
