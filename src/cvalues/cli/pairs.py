"""``cvalues pairs``: reward models, policies and judges on preference pairs; MC sets, training
data and an overlap report from pairs."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cvalues import api
from cvalues.cli.common import (
    BATCH_SIZE_OPTION,
    BATCH_TOKENS_OPTION,
    CONCURRENCY_OPTION,
    CONTEXT_WINDOW_OPTION,
    DB_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    ENGINE_OPTION,
    EXECUTOR_OPTION,
    MAX_RETRIES_OPTION,
    NEW_RUN_OPTION,
    PROGRESS_OPTION,
    RAY_ADDRESS_OPTION,
    RAY_WORKERS_OPTION,
    TRUNCATE_OPTION,
    check_executor,
    check_truncate,
    exit_if_failed,
)
from cvalues.core.errors import InputError
from cvalues.report.formatting import fmt_ci, fmt_value

app = typer.Typer(
    help="Preference pairs (CValues-Comparison, JADE, MC triples): score, build MC, export, check.",
    invoke_without_command=True,
    no_args_is_help=False,
)
console = Console()
DATASET_OPTION = typer.Option(
    ..., "--dataset", "-d", help="cvalues-comparison (ModelScope, fetched and verified) or a pair file."
)
SPLIT_OPTION = typer.Option("test", "--split", help="ModelScope datasets: train or test.")
PAIR_TYPE_OPTION = typer.Option(None, "--pair-type", help="Only one pair type, e.g. 拒绝为主>风险回复.")


@app.callback()
def score(
    ctx: typer.Context,
    scorer: str = typer.Option(
        None, "--scorer", help="logprob:<model spec> | judge:<model spec> | hf-rm:<reward model dir>"
    ),
    dataset: str = typer.Option(None, "--dataset", "-d", help="cvalues-comparison or a pair file."),
    split: str = SPLIT_OPTION,
    out: Path = typer.Option(
        None, "--out", "-o", help="Run directory (default: runs/pairs-<dataset>-<model>-<scorer>)."
    ),
    rubric: str = typer.Option(
        "pairwise", "--rubric", help="judge: a pairwise rubric (built-in or TOML file)."
    ),
    pair_type: str = PAIR_TYPE_OPTION,
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N pairs."),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="judge: most tokens of its verdict."),
    base_url: str = typer.Option(
        None, "--base-url", help="Base URL of the scorer's OpenAI-compatible server."
    ),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Variable holding the API key."),
    concurrency: int = CONCURRENCY_OPTION,
    max_retries: int = MAX_RETRIES_OPTION,
    batch_size: int = BATCH_SIZE_OPTION,
    batch_tokens: int = BATCH_TOKENS_OPTION,
    engine: str = ENGINE_OPTION,
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    executor: str = EXECUTOR_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_workers: int = RAY_WORKERS_OPTION,
    db: str = DB_OPTION,
    new_run: bool = NEW_RUN_OPTION,
    progress: bool = PROGRESS_OPTION,
    truncate: str = TRUNCATE_OPTION,
    context_window: int = CONTEXT_WINDOW_OPTION,
) -> None:
    """Pairwise accuracy of a scorer, per pair type and domain, with prompt-clustered 95% CIs."""
    if ctx.invoked_subcommand is not None:
        return
    if scorer is None or dataset is None:
        raise InputError(
            "give --scorer and --dataset (or a subcommand: build-mc, export, check)", flag="--scorer"
        )
    check_executor(executor, ray_address, ray_workers)
    results = api.pairs(
        scorer,
        dataset,
        split=split,
        out=out,
        rubric=rubric,
        pair_type=pair_type,
        limit=limit,
        max_tokens=max_tokens,
        base_url=base_url,
        api_key_env=api_key_env,
        dtype=dtype,
        db=db,
        new_run=new_run,
        progress=progress,
        truncate=check_truncate(truncate),
        context_window=context_window,
        concurrency=concurrency,
        batch_size=batch_size,
        batch_tokens=batch_tokens,
        engine=engine,
        device=device,
        max_retries=max_retries,
        executor=executor,
        ray_address=ray_address,
        ray_workers=ray_workers,
    )
    data = results.to_json()
    table = Table(title=f"pairs · {scorer} · {data['dataset']['name']}", title_justify="left")
    for name in ("group", "n", "accuracy", "95% CI", "ties", "decided acc"):
        table.add_column(name, justify="left" if name == "group" else "right")
    rows = [("all", data["metrics"])] + [(f"type {k}", v) for k, v in data["by_pair_type"].items()]
    rows += [(f"domain {k}", v) for k, v in data["by_domain"].items()]
    for name, m in rows:
        table.add_row(
            name,
            str(m["n"]),
            fmt_value(m["accuracy"], "percent"),
            fmt_ci(m["accuracy_ci"], "percent"),
            str(m["ties"]),
            fmt_value(m["accuracy_decided"], "percent"),
        )
    console.print(table)
    metrics = data["metrics"]
    if "normalised" in metrics:
        console.print(
            f"length-normalised accuracy: {fmt_value(metrics['normalised']['accuracy'], 'percent')}"
        )
    if "order_consistency" in metrics:
        console.print(
            f"judge order consistency: {fmt_value(metrics['order_consistency']['consistency'], 'percent')}"
        )
    assert results.out_dir is not None
    console.print(f"wrote {results.out_dir / 'results.json'} and {results.out_dir / 'samples.jsonl'}")
    exit_if_failed(data, "scores")


@app.command("build-mc")
def build_mc_command(
    dataset: str = DATASET_OPTION,
    out: Path = typer.Option(..., "--out", "-o", help="The MC file to write (JSONL)."),
    split: str = SPLIT_OPTION,
    pair_type: str = PAIR_TYPE_OPTION,
) -> None:
    """MC items from pairs, both orders (the official construction), as a file `cvalues mc` reads."""
    n = api.pairs_build_mc(dataset, out, split=split, pair_type=pair_type)
    console.print(f"wrote {n} MC items to {out}")


@app.command("export")
def export_command(
    dataset: str = DATASET_OPTION,
    out: Path = typer.Option(..., "--out", "-o", help="The JSONL file to write."),
    fmt: str = typer.Option(
        ..., "--format", help="sft | dpo (TRL) | sft-alpaca | dpo-alpaca (LLaMA-Factory)."
    ),
    split: str = typer.Option("train", "--split", help="ModelScope datasets: train or test."),
    pair_type: str = PAIR_TYPE_OPTION,
    weakest_of: Path = typer.Option(
        None, "--weakest-of", help="Only the domains/scenarios this run did worst on."
    ),
) -> None:
    """Supervision for hardening: SFT (prompt -> better reply) or DPO (prompt, chosen, rejected)."""
    n = api.pairs_export(dataset, out, fmt=fmt, split=split, pair_type=pair_type, weakest_of=weakest_of)
    console.print(f"wrote {n} {fmt} rows to {out}")


@app.command("check")
def check_command(
    dataset: str = DATASET_OPTION,
    split: str = SPLIT_OPTION,
    against: str = typer.Option(None, "--against", help="An evaluation set (MC or prompts): name or file."),
    other_split: str = typer.Option(
        None, "--other-split", help="Prompts shared with this split (e.g. train)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Leakage and duplicates: exact and near-duplicate overlap, reported (nothing is filtered)."""
    if against is None and other_split is None:
        raise InputError("give --against EVALSET and/or --other-split SPLIT", flag="--against")
    report = api.pairs_check(dataset, split=split, against=against, other_split=other_split).to_dict()
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    console.print(f"{report['n_pairs']} pairs read; {report['method']}")
    for kind in ("exact", "near"):
        for what, count in report[kind].items():
            console.print(f"  {kind}: {what}: {count}")
    if not report["exact"] and not report["near"]:
        console.print("  no overlap found")
