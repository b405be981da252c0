"""Terminal tables for MC results (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _ci(ci: list[float] | None) -> str:
    return "—" if not ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _group_table(title: str, groups: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("group", "questions", "n", "acc %", "95% CI", "acc* %", "refuse", "other", "need check"):
        table.add_column(name, justify="left" if name == "group" else "right", no_wrap=True)
    for key, m in sorted(groups.items(), key=lambda kv: -kv[1]["total"]):
        table.add_row(
            key,
            str(m.get("n_questions", "—")),
            str(m["total"]),
            _pct(m["acc"]),
            _ci(m.get("acc_ci")),
            _pct(m["acc_star"]),
            str(m["refuse_cnt"]),
            str(m["other_cnt"]),
            str(m["need_check_cnt"]),
        )
    return table


def print_mc_results(results: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    m = results["metrics"]
    model = results["model"].get("spec") or results["model"].get("source") or "replies from file"
    head = Table(title=f"CValues MC · {model} · {results['dataset']['name']}", title_justify="left")
    for name in ("metric", "value", "95% CI"):
        head.add_column(name, justify="left" if name == "metric" else "right", no_wrap=True)
    head.add_row("acc %", _pct(m["acc"]), _ci(m.get("acc_ci")))
    head.add_row("acc* %", _pct(m["acc_star"]), _ci(m.get("acc_star_ci")))
    head.add_row("items (total)", str(m["total"]), "")
    head.add_row("correct", str(m["correct"]), "")
    head.add_row("predicted (pred_cnt)", str(m["pred_cnt"]), "")
    head.add_row("refused", str(m["refuse_cnt"]), "")
    head.add_row("other", str(m["other_cnt"]), "")
    head.add_row("need check (unparsed)", str(m["need_check_cnt"]), "")
    if m.get("unfinished_cnt"):
        head.add_row("[yellow]unfinished (cut off in reasoning)[/]", str(m["unfinished_cnt"]), "")
    if m.get("disputed_cnt"):
        head.add_row("disputed official labels", str(m["disputed_cnt"]), "")
    bias = results.get("position_bias") or {}
    if bias.get("n") or not bias.get("letter_shares"):
        head.add_row("position bias (% 回复1 picks)", _pct(bias.get("share_reply1")), _ci(bias.get("ci")))
    letters = (bias.get("letter_shares") or {}).get("letters") or {}
    for letter, shares in letters.items():
        # Each letter's share of the picks beside its share of the answers: far apart means bias.
        answers = _pct(shares.get("label_share"))
        head.add_row(f"% {letter} picks (answers {answers}%)", _pct(shares.get("pred_share")), "")
    pairs = results.get("pair_consistency") or {}
    consistency = pairs.get("consistency")
    name = "all-rotations consistency" if letters else "pair consistency"
    if pairs.get("n_pairs") or not letters:  # lettered items asked once (no --circular): nothing to show
        head.add_row(f"{name} % (n={pairs.get('n_pairs', 0)})", _pct(consistency), _ci(pairs.get("ci")))
    failed = results.get("execution", {}).get("n_failed", 0)
    if failed:
        head.add_row("[red]failed requests (unscored)[/]", str(failed), "")
    console.print(head)
    for key, title in (
        ("by_domain", "by domain"),
        ("by_difficulty", "by difficulty"),
        ("by_scenario", "by scenario"),
    ):
        if results.get(key):
            console.print(_group_table(title, results[key]))
    for note in results.get("notes") or []:
        console.print(f"[yellow]note:[/] {note}")
