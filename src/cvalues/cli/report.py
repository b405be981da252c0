"""``cvalues report`` and ``cvalues compare``: leaderboards and paired comparisons of runs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cvalues.core.errors import InputError
from cvalues.core.files import write_json
from cvalues.report.build import build_report
from cvalues.report.compare import compare_runs
from cvalues.report.console_tables import print_comparison, print_report
from cvalues.report.loading import load_run
from cvalues.report.report_files import write_report

console = Console()

_GROUP_BY = ("settings", "model")


def report(
    runs: list[Path] = typer.Argument(
        ..., help="Run directories (results.json + samples.jsonl), or folders holding them."
    ),
    out: Path = typer.Option(
        Path("report"),
        "--out",
        "-o",
        help="Write report.html, report.md, leaderboard.csv, leaderboard.json here.",
    ),
    group_by: str = typer.Option(
        "settings",
        "--group-by",
        help="settings: one row per model spec and behaviour settings; model: one row per model spec.",
    ),
    min_n: int = typer.Option(10, "--min-n", min=1, help="Fewest items for a domain to be called weakest."),
    examples: int = typer.Option(
        3, "--examples", min=0, help="Failure examples shown per run in report.html."
    ),
    verify: bool = typer.Option(
        True,
        "--verify/--no-verify",
        help="Recompute each MC run's metrics from samples.jsonl and flag mismatches.",
    ),
) -> None:
    """Leaderboard, breakdowns and charts across runs (the paper's tables).

    Exit code 1 when a run was skipped or its metrics do not recompute from its samples.
    """

    if group_by not in _GROUP_BY:
        raise InputError(f"must be one of {', '.join(_GROUP_BY)}, got {group_by!r}", flag="--group-by")
    result = build_report(runs, group_by=group_by, min_n=min_n, verify=verify, examples_per_run=examples)
    if not result.runs:
        reasons = "; ".join(s.reason for s in result.skipped)
        raise InputError(f"no run could be read ({reasons})", flag="RUN_DIR")
    paths = write_report(result, out)
    print_report(result, console)
    console.print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if result.skipped or result.failed_verifications:
        raise typer.Exit(1)


def compare(
    run_a: Path = typer.Argument(..., help="Run directory A (the baseline)."),
    run_b: Path = typer.Argument(..., help="Run directory B (compared with A: differences are B - A)."),
    json_out: Path = typer.Option(None, "--json", help="Also write the comparison as JSON to this file."),
    n_boot: int = typer.Option(2000, "--n-boot", min=100, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (results are reproducible)."),
) -> None:
    """Paired comparison of two runs on the same items (McNemar for MC, paired bootstrap for scores)."""

    loaded = []
    for path in (run_a, run_b):
        if not (path / "results.json").is_file():
            raise InputError("not a run directory (no results.json)", path=path)
        try:
            loaded.append(load_run(path))
        except ValueError as exc:
            raise InputError(str(exc)) from exc
    comparison = compare_runs(loaded[0], loaded[1], n_boot=n_boot, seed=seed)
    print_comparison(comparison, console)
    if json_out is not None:
        write_json(json_out, comparison.to_dict())
        console.print(f"wrote {json_out}")
