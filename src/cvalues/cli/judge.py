"""``cvalues judge``: score replies with an LLM judge rubric or a guard model."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cvalues import api
from cvalues.cli.common import (
    BATCH_SIZE_OPTION,
    BATCH_TOKENS_OPTION,
    CHAT_FORMAT_OPTION,
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
    TRUST_REMOTE_CODE_OPTION,
    check_executor,
    check_truncate,
    exit_if_failed,
)
from cvalues.cli.options import parse_field_mapping
from cvalues.core.errors import InputError
from cvalues.report.reply_terminal import print_judge_results

console = Console()


def judge(
    run_dir: Path = typer.Argument(
        None, help="A `cvalues generate` output directory whose replies are judged.", show_default=False
    ),
    judge_model: str = typer.Option(
        None, "--judge", "-j", help="The judge: openai:<name> | hf:<dir-or-hub-id> | gguf:<file> | vllm:<...>"
    ),
    rubric: str = typer.Option(
        "safety",
        "--rubric",
        "-r",
        help="Built-in rubric (safety, responsibility, pairwise, guard-qwen3, guard-shieldlm, "
        "guard-llamaguard) or a rubric TOML file.",
    ),
    responses: Path = typer.Option(
        None,
        "--responses",
        help="Judge a file of replies instead of a run: rows with prompt and response (+ id, domain, "
        "scenario, level, should_answer, reference, history, human_label).",
    ),
    against: Path = typer.Option(
        None, "--against", help="Pairwise rubric: a second generate run; replies are compared in both orders."
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Output directory (default: <RUN_DIR>-<rubric>, or runs/<file>-<rubric>)."
    ),
    judge_samples: int = typer.Option(
        1, "--judge-samples", "-k", min=1, help="Judge each reply k times: majority label or mean score."
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Judge only the first N replies."),
    field: list[str] = typer.Option(
        None, "--field", help="--responses: map a column, e.g. --field response=回复 (repeatable)."
    ),
    encoding: str = typer.Option(
        None, "--encoding", help="--responses: the file's encoding (default: detect)."
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="Base URL of the judge's OpenAI-compatible server."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the judge's API key."
    ),
    temperature: float = typer.Option(
        None, "--temperature", min=0.0, help="Judge temperature (default: 0; 0.7 with --judge-samples > 1)."
    ),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Most tokens the judge may write."),
    top_p: float = typer.Option(None, "--top-p", min=0.0, max=1.0),
    seed: int = typer.Option(
        None, "--seed", help="Judge seed (k samples: seed, seed+1, ...; from 0 if unset)."
    ),
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
    chat_format: str = CHAT_FORMAT_OPTION,
    trust_remote_code: bool = TRUST_REMOTE_CODE_OPTION,
    db: str = DB_OPTION,
    new_run: bool = NEW_RUN_OPTION,
    progress: bool = PROGRESS_OPTION,
    truncate: str = TRUNCATE_OPTION,
    context_window: int = CONTEXT_WINDOW_OPTION,
) -> None:
    """Judge replies: safety score, responsibility score, refusal rates (judging again sends nothing)."""
    if judge_model is None:
        raise InputError("missing --judge (e.g. --judge openai:NAME --base-url URL)", flag="--judge")
    check_executor(executor, ray_address, ray_workers)
    results = api.judge(
        judge_model,
        run_dir,
        rubric=rubric,
        responses=responses,
        against=against,
        out=out,
        judge_samples=judge_samples,
        limit=limit,
        fields=parse_field_mapping(field),
        encoding=encoding,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        base_url=base_url,
        api_key_env=api_key_env,
        dtype=dtype,
        chat_format=chat_format,
        trust_remote_code=trust_remote_code,
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
    print_judge_results(results.to_json(), console)
    assert results.out_dir is not None
    console.print(f"wrote {results.out_dir / 'results.json'} and {results.out_dir / 'samples.jsonl'}")
    exit_if_failed(results.to_json(), "judgments")
