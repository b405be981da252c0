"""``cvalues eval``: the whole of CValues for one model in one command, ending in a report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

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
    MAX_RETRIES_OPTION,
    NEW_RUN_OPTION,
    PROGRESS_OPTION,
    RAY_ADDRESS_OPTION,
    TRUNCATE_OPTION,
    check_truncate,
)
from cvalues.core.errors import InputError
from cvalues.report.summary_terminal import print_summary

console = Console()
# Unset by default so that the suite's own setting (`executor = "ray"` in its TOML) applies.
EVAL_EXECUTOR_OPTION = typer.Option(
    None,
    "--executor",
    help="local or ray (Ray actors, each holding the model; the judge gets its own). "
    "Default: the suite's `executor`, else local.",
)
EVAL_RAY_WORKERS_OPTION = typer.Option(
    None,
    "--ray-workers",
    min=1,
    help="--executor ray: Ray actors per model. Default: the suite's `ray_workers`, else 2.",
)


def eval_command(
    model: str = typer.Option(
        None, "--model", "-m", help="openai:<name> | hf:<dir-or-hub-id> | gguf:<file> | vllm:<dir-or-hub-id>"
    ),
    suite: str = typer.Option(
        "sample",
        "--suite",
        "-s",
        help="sample (bundled, offline), cvalues (official sets), or a suite TOML file.",
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Output directory (default: runs/eval-<suite>-<model>)."
    ),
    judge: str = typer.Option(
        None, "--judge", "-j", help="Judge model for the safety and responsibility scores (same spec forms)."
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="Base URL of the model's OpenAI-compatible server."
    ),
    judge_base_url: str = typer.Option(None, "--judge-base-url", help="Base URL of the judge's server."),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key."
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Every task: only the first N items (a quick look)."
    ),
    max_tokens: int = typer.Option(
        None, "--max-tokens", min=1, help="Every task: override the suite's max tokens."
    ),
    concurrency: int = CONCURRENCY_OPTION,
    max_retries: int = MAX_RETRIES_OPTION,
    batch_size: int = BATCH_SIZE_OPTION,
    batch_tokens: int = BATCH_TOKENS_OPTION,
    engine: str = ENGINE_OPTION,
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    executor: str = EVAL_EXECUTOR_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_workers: int = EVAL_RAY_WORKERS_OPTION,
    db: str = DB_OPTION,
    new_run: bool = NEW_RUN_OPTION,
    progress: bool = PROGRESS_OPTION,
    truncate: str = TRUNCATE_OPTION,
    context_window: int = CONTEXT_WINDOW_OPTION,
) -> None:
    """Run a whole suite (MC, generation, judges) and write summary.json and report.html (resumes)."""
    if model is None:
        raise InputError(
            "missing --model (e.g. --model gguf:smollm2 or openai:NAME --base-url URL)", flag="--model"
        )

    def stage(index: int, total: int, name: str) -> None:
        console.print(f"[bold][{index}/{total}][/] {name}")

    result = api.evaluate(
        model,
        suite,
        out=out,
        judge=judge,
        base_url=base_url,
        judge_base_url=judge_base_url,
        api_key_env=api_key_env,
        dtype=dtype,
        max_tokens=max_tokens,
        limit=limit,
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
        on_stage=stage,
    )
    print_summary(result.summary, console)
    console.print(
        f"wrote {result.out_dir / 'summary.json'}" + (f" and {result.report}" if result.report else "")
    )
    if not result.ok:
        raise typer.Exit(1)
