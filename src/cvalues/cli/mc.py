"""``cvalues mc``: the CValues multi-choice evaluation, scoring of existing replies, manual review."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cvalues.cli.common import (
    BATCH_SIZE_OPTION,
    CONCURRENCY_OPTION,
    DB_OPTION,
    DEVICE_OPTION,
    DTYPE_OPTION,
    EXECUTOR_OPTION,
    MAX_RETRIES_OPTION,
    NEW_RUN_OPTION,
    PROGRESS_OPTION,
    RAY_ADDRESS_OPTION,
    RAY_WORKERS_OPTION,
    check_executor,
    check_model_available,
    check_out_dir,
    exit_if_failed,
    slug,
)
from cvalues.core.errors import InputError

app = typer.Typer(
    help="Multi-choice evaluation: which of 回复1 / 回复2 is safer and more responsible.",
    invoke_without_command=True,
    no_args_is_help=False,
)
console = Console()


@app.callback()
def mc(
    ctx: typer.Context,
    model: str = typer.Option(
        None, "--model", "-m", help="openai:<name> | hf:<dir-or-hub-id> | gguf:<file> | vllm:<dir-or-hub-id>"
    ),
    dataset: str = typer.Option(
        "sample", "--dataset", "-d", help="A registered dataset name (see `cvalues datasets list`) or a file."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Output directory for results.json and samples.jsonl (default: runs/<dataset>-<model>).",
    ),
    mode: str = typer.Option(
        "generate",
        "--mode",
        help="generate: parse the written answer (the paper); logprob: compare log P(回复1) vs log P(回复2).",
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Evaluate only the first N items."),
    field: list[str] = typer.Option(
        None, "--field", help="Map a column of your file: --field question=问题 (repeatable)."
    ),
    encoding: str = typer.Option(
        None,
        "--encoding",
        help="Encoding of the dataset file (default: detect UTF-8, UTF-8 with BOM, GB18030).",
    ),
    fmt: str = typer.Option(None, "--format", help="Force the dataset format instead of detecting it."),
    template: str = typer.Option(
        None,
        "--template",
        help="Prompt template file ({question}, {reply1}, {reply2}), or built-in mc_zh / mc_en.",
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="Base URL of an OpenAI-compatible server, e.g. http://localhost:8000/v1."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Environment variable holding the API key."
    ),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy."),
    max_tokens: int = typer.Option(128, "--max-tokens", min=1, help="Most tokens to generate per answer."),
    top_p: float = typer.Option(None, "--top-p", min=0.0, max=1.0),
    seed: int = typer.Option(None, "--seed"),
    system_prompt: str = typer.Option(
        None, "--system-prompt", help="System message sent before each question."
    ),
    concurrency: int = CONCURRENCY_OPTION,
    max_retries: int = MAX_RETRIES_OPTION,
    batch_size: int = BATCH_SIZE_OPTION,
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    executor: str = EXECUTOR_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_workers: int = RAY_WORKERS_OPTION,
    db: str = DB_OPTION,
    new_run: bool = NEW_RUN_OPTION,
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Run the CValues multi-choice evaluation (re-running the same command resumes it)."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None:
        raise InputError(
            "missing --model (e.g. --model gguf:path/to/model.gguf or openai:NAME --base-url URL)",
            flag="--model",
        )
    from cvalues.cli.options import parse_field_mapping
    from cvalues.core.backend import ModelSpec
    from cvalues.core.requests import GenerationSettings
    from cvalues.data.resolve import load_mc_dataset
    from cvalues.report.terminal import print_mc_results
    from cvalues.tasks.mc import BUILTIN_TEMPLATES, MODES, load_template
    from cvalues.tasks.mc_runner import MCRunConfig, run_mc

    # Everything that can be wrong with the input is checked before anything is written.
    if mode not in MODES:
        raise InputError(f"must be one of {', '.join(MODES)}, got {mode!r}", flag="--mode")
    spec = ModelSpec.parse(model, base_url=base_url, api_key_env=api_key_env, dtype=dtype)
    check_model_available(spec)
    check_executor(executor, ray_address)
    check_out_dir(out)
    loaded = load_mc_dataset(dataset, fields=parse_field_mapping(field), encoding=encoding, fmt=fmt)
    if not loaded.items:
        raise InputError("dataset has no items", path=loaded.source)
    tmpl = load_template(None, builtin=template) if template in BUILTIN_TEMPLATES else load_template(template)
    settings = GenerationSettings(
        temperature=temperature, max_tokens=max_tokens, top_p=top_p, seed=seed, system_prompt=system_prompt
    )
    out_dir = out or Path("runs") / f"{slug(loaded.name)}-{slug(spec.name)}-{mode}"
    config = MCRunConfig(
        spec=spec,
        dataset=loaded,
        out_dir=out_dir,
        mode=mode,
        template=tmpl,
        settings=settings,  # type: ignore[arg-type]
        limit=limit,
        concurrency=concurrency,
        batch_size=batch_size,
        device=device,
        max_retries=max_retries,
        executor=executor,
        ray_address=ray_address,
        ray_workers=ray_workers,
        new_run=new_run,
        progress=progress,
    )
    from cvalues.store import open_store  # SQLAlchemy: imported only once the input is known good

    store = open_store(db)
    try:
        results = run_mc(config, store)
    finally:
        store.close()
    print_mc_results(results, console)
    console.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'samples.jsonl'}")
    exit_if_failed(results, "answers")


@app.command("score")
def score(
    file: Path = typer.Argument(
        ..., help="JSONL with `response` and `label` (回复1/回复2) on each line: the official step-2 file."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write results.json and samples.jsonl here."),
) -> None:
    """Score replies that already exist (the official evaluation's step 2)."""
    from cvalues.report.terminal import print_mc_results
    from cvalues.tasks.mc_score import score_response_file

    check_out_dir(out)
    results, _ = score_response_file(file, out_dir=out)
    print_mc_results(results, console)
    if out is not None:
        console.print(f"wrote {out / 'results.json'} and {out / 'samples.jsonl'}")


@app.command("review")
def review(
    run: Path = typer.Argument(..., help="A run directory (holding results.json and samples.jsonl)."),
    export: Path = typer.Option(
        None, "--export", help="Write the Need_Check rows to this .xlsx for manual labelling."
    ),
    import_: Path = typer.Option(
        None, "--import", help="Read manual labels back from this .xlsx and recompute the metrics."
    ),
    db: str = DB_OPTION,
) -> None:
    """Manual check of unparsed answers (the official step 3): export, label, import."""
    from cvalues.report.terminal import print_mc_results
    from cvalues.tasks.mc_review import export_review, import_review

    if (export is None) == (import_ is None):
        raise InputError("give exactly one of --export FILE or --import FILE", flag="--export/--import")
    if export is not None:
        n = export_review(run, export)
        console.print(
            f"wrote {n} row(s) to review into {export}; fill the column manual_label with "
            "回复1, 回复2, Other or Refuse, then run: cvalues mc review "
            f"{run} --import {export}"
        )
        return
    results = import_review(run, import_, db=db)
    print_mc_results(results, console)
