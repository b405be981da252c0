"""``cvalues generate``: free-form replies to a prompt set, with refusal and over-refusal rates."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cvalues.cli.common import (
    BATCH_SIZE_OPTION,
    CHAT_FORMAT_OPTION,
    CONCURRENCY_OPTION,
    DB_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    MAX_RETRIES_OPTION,
    NEW_RUN_OPTION,
    PROGRESS_OPTION,
    TRUST_REMOTE_CODE_OPTION,
    check_model_available,
    check_out_dir,
    exit_if_failed,
    local_model_options,
    slug,
)
from cvalues.core.errors import InputError

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
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    chat_format: str = CHAT_FORMAT_OPTION,
    trust_remote_code: bool = TRUST_REMOTE_CODE_OPTION,
    db: str = DB_OPTION,
    new_run: bool = NEW_RUN_OPTION,
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Generate replies to a prompt set (re-running the same command resumes it)."""
    if model is None:
        raise InputError(
            "missing --model (e.g. --model gguf:path/to/model.gguf or openai:NAME --base-url URL)",
            flag="--model",
        )
    from cvalues.cli.options import parse_field_mapping
    from cvalues.core.backend import ModelSpec
    from cvalues.core.requests import GenerationSettings
    from cvalues.data.prompt_sets import load_prompt_dataset
    from cvalues.report.reply_terminal import print_generate_results
    from cvalues.tasks.generate import check_samples
    from cvalues.tasks.generate_runner import GenerateRunConfig, run_generate

    # Everything that can be wrong with the input is checked before anything is written.
    spec = ModelSpec.parse(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        dtype=dtype,
        **local_model_options(model, chat_format, trust_remote_code),
    )
    settings = GenerationSettings(
        temperature=temperature, max_tokens=max_tokens, top_p=top_p, seed=seed, system_prompt=system_prompt
    )
    check_samples(samples, settings)
    check_model_available(spec)
    check_out_dir(out)
    loaded = load_prompt_dataset(dataset, fields=parse_field_mapping(field), encoding=encoding, fmt=fmt)
    if not loaded.items:
        raise InputError("the prompt set has no prompts", path=loaded.source)
    out_dir = out or Path("runs") / f"{slug(loaded.name)}-{slug(spec.name)}-generate"
    config = GenerateRunConfig(
        spec=spec,
        dataset=loaded,
        out_dir=out_dir,
        settings=settings,
        n_samples=samples,
        limit=limit,
        concurrency=concurrency,
        batch_size=batch_size,
        device=device,
        max_retries=max_retries,
        new_run=new_run,
        progress=progress,
    )
    from cvalues.store import open_store  # SQLAlchemy: imported only once the input is known good

    store = open_store(db)
    try:
        results = run_generate(config, store)
    finally:
        store.close()
    print_generate_results(results, console)
    console.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'samples.jsonl'}")
    exit_if_failed(results, "replies")
