"""``cvalues generate``: free-form replies to a prompt set, with refusal and over-refusal rates."""

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
from cvalues.report.reply_terminal import print_generate_results

console = Console()


def generate(
    model: str = typer.Option(
        None, "--model", "-m", help="openai:<name> | hf:<dir-or-hub-id> | gguf:<file> | vllm:<dir-or-hub-id>"
    ),
    dataset: str = typer.Option(
        "sample",
        "--dataset",
        "-d",
        help="A prompt set name (see `cvalues datasets list`), a file (JSONL, JSON, CSV, XLSX, TXT) or a "
        "folder of one-prompt-per-line files.",
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Output directory for results.json and samples.jsonl (default: runs/<dataset>-<model>-generate)",
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Use only the first N prompts."),
    samples: int = typer.Option(
        1,
        "--samples",
        "--n",
        "-n",
        min=1,
        help="Replies per prompt; sample k uses seed + k (needs --temperature > 0).",
    ),
    field: list[str] = typer.Option(
        None, "--field", help="Map a column of your file: --field prompt=问题 (repeatable)."
    ),
    encoding: str = typer.Option(
        None, "--encoding", help="Encoding of the file (default: detect UTF-8, UTF-8 with BOM, GB18030)."
    ),
    fmt: str = typer.Option(None, "--format", help="Force the prompt file format instead of detecting it."),
    base_url: str = typer.Option(
        None, "--base-url", help="Base URL of an OpenAI-compatible server, e.g. http://localhost:8000/v1."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key."
    ),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Most tokens to generate per reply."),
    top_p: float = typer.Option(None, "--top-p", min=0.0, max=1.0),
    seed: int = typer.Option(None, "--seed", help="Sampling seed (several samples: seed, seed+1, ...)."),
    system_prompt: str = typer.Option(
        None, "--system-prompt", help="System message sent before each prompt."
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
    """Generate replies to a prompt set (re-running the same command resumes it)."""
    if model is None:
        raise InputError(
            "missing --model (e.g. --model gguf:path/to/model.gguf or openai:NAME --base-url URL)",
            flag="--model",
        )
    check_executor(executor, ray_address, ray_workers)
    results = api.generate(
        model,
        dataset,
        out=out,
        samples=samples,
        limit=limit,
        fields=parse_field_mapping(field),
        encoding=encoding,
        fmt=fmt,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        system_prompt=system_prompt,
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
    print_generate_results(results.to_json(), console)
    assert results.out_dir is not None
    console.print(f"wrote {results.out_dir / 'results.json'} and {results.out_dir / 'samples.jsonl'}")
    exit_if_failed(results.to_json(), "replies")
