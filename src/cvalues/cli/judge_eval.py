"""``cvalues judge-eval``: does an automatic judge agree with the human majority, and as well as the
humans agree with each other?"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvalues.annotate.judge_eval import export_task_annotations, human_labels_in_judge_run, run_judge_eval

console = Console()

_LABELS = {
    "kappa": "Cohen's κ",
    "accuracy": "accuracy",
    "precision_unsafe": "precision (unsafe)",
    "recall_unsafe": "recall (unsafe)",
    "f1_unsafe": "F1 (unsafe)",
    "false_positive_rate": "false-positive rate (safe judged unsafe)",
    "quadratic_weighted_kappa": "quadratic-weighted κ",
    "spearman_rho": "Spearman ρ",
    "mean_absolute_error": "mean absolute error",
}


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _ci(ci: list[float] | None) -> str:
    return "—" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def print_judge_eval(results: dict[str, Any], out: Console | None = None) -> None:
    """The judge-vs-human metrics, the verdict and what was left out, as rich tables."""
    out = out or console
    spec = (results.get("model") or {}).get("spec") or results["judge"].get("run_dir")
    table = Table(
        title=escape(f"Judge vs human majority · {results['kind']} · {spec} · {results['dataset']['name']}"),
        title_justify="left",
    )
    for name in ("metric", "value", "95% CI", "n"):
        table.add_column(name, justify="left" if name == "metric" else "right")
    for key, entry in results["metrics"].items():
        table.add_row(_LABELS.get(key, key), _number(entry["value"]), _ci(entry["ci"]), str(entry["n"]))
    out.print(table)

    verdict = results["verdict"]
    metric = _LABELS.get(verdict["metric"], verdict["metric"])
    agree = Table(
        title=f"Agreement with the other annotators ({metric}, leave-one-out)", title_justify="left"
    )
    for name in ("who", "value", "95% CI", "pairs"):
        agree.add_column(name, justify="left" if name == "who" else "right")
    for key, who in (
        ("human_vs_others", "humans"),
        ("judge_vs_others", "judge"),
        ("difference", "judge − humans"),
    ):
        entry = verdict[key]
        agree.add_row(who, _number(entry["value"]), _ci(entry["ci"]), str(entry["n"]))
    out.print(agree)
    answer = {"yes": "[green]yes[/]", "no": "[red]no[/]"}.get(verdict["answer"] or "", "undefined")
    out.print(f"Does the judge agree with humans at least as well as humans agree with each other? {answer}")
    if verdict["answer"] is None:
        out.print("(needs items with two or more annotators and some variation in their labels)")

    counts = results["counts"]
    left_out = {
        "with the judge's output unparsed": counts["n_judge_unparsed"],
        "with no judge verdict": counts["n_judge_missing"],
        "with tied annotators (no majority)": counts["n_human_no_majority"],
        "judge samples said controversial": counts.get("n_judge_controversial_samples", 0),
    }
    notes = ", ".join(f"{n} {why}" for why, n in left_out.items() if n)
    out.print(
        f"compared {counts['n_compared']} of {counts['n_human_items']} annotated items"
        + (f"; {notes}" if notes else "")
    )


def judge_eval(
    human: str = typer.Option(
        None,
        "--human",
        help="An annotation task id (read from the store, --db) or an export file (JSONL/CSV/XLSX): "
        "item_id, annotator, kind, label or score. Default: the human_label column of the judge's "
        "samples (from `cvalues judge --responses`).",
    ),
    judge: Path = typer.Option(
        ..., "--judge", help="A `cvalues judge` output directory (with samples.jsonl)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write results.json here."),
    kind: str = typer.Option(
        None, "--kind", help="safety or responsibility (needed only when the file has both)."
    ),
    model: str = typer.Option(None, "--model", help="Use only the annotations of this model's replies."),
    controversial: str = typer.Option(
        "exclude", "--controversial", help="A guard's 'controversial' verdict: exclude, unsafe or safe."
    ),
    n_boot: int = typer.Option(1000, "--n-boot", min=0, help="Bootstrap resamples for the 95% intervals."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (same seed, same intervals)."),
    db: str = typer.Option(
        None, "--db", help="Store URL holding the task (default: $CVALUES_DB or sqlite:///cvalues.db)."
    ),
) -> None:
    """Validate a judge against human labels and say whether it agrees as well as humans do.

    Safety: κ, F1 on unsafe, false-positive rate; scores: weighted κ, Spearman, MAE.
    """

    options: dict[str, Any] = {
        "kind": kind,
        "model": model,
        "controversial": controversial,
        "n_boot": n_boot,
        "seed": seed,
        "out_dir": out,
    }
    if human is None:
        labels = human_labels_in_judge_run(judge)
        samples = judge / "samples.jsonl"
        results = run_judge_eval(
            samples, judge, source_name=f"human_label:{samples}", human_file=labels, **options
        )
    elif Path(human).is_file():
        results = run_judge_eval(Path(human), judge, **options)
    else:
        with tempfile.TemporaryDirectory(prefix="cvalues-judge-eval-") as folder:
            export = export_task_annotations(human, db, Path(folder))
            results = run_judge_eval(export, judge, source_name=f"task:{human}", **options)
    print_judge_eval(results)
    if out is not None:
        console.print(f"wrote {out / 'results.json'}")
