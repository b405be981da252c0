"""``cvalues mc``: the CValues multi-choice evaluation, scoring of existing replies, manual review."""

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
from cvalues.cli.options import (
    ANSWER_BASE_HELP,
    ANSWERS_HELP,
    FIELD_NAMES_HELP,
    LEVEL_HELP,
    parse_answer_base,
    parse_field_mapping,
)
from cvalues.core.errors import InputError
from cvalues.report.terminal import print_mc_results
from cvalues.tasks.mc_review import export_review, import_review

app = typer.Typer(
    help="Multi-choice evaluation: which of 回复1 / 回复2 (or of options A, B, C, …) is safer.",
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
        help="Output directory for results.json and samples.jsonl (default: runs/<dataset>-<model>-<mode>).",
    ),
    mode: str = typer.Option(
        "generate",
        "--mode",
        help="generate: parse the written answer (the paper); logprob: compare log P(回复1) vs log P(回复2).",
    ),
    limit: int = typer.Option(None, "--limit", min=1, help="Evaluate only the first N items."),
    field: list[str] = typer.Option(None, "--field", help=FIELD_NAMES_HELP),
    answers: Path = typer.Option(None, "--answers", help=ANSWERS_HELP),
    answer_base: int = typer.Option(None, "--answer-base", help=ANSWER_BASE_HELP),
    level: str = typer.Option(None, "--level", help=LEVEL_HELP),
    circular: bool = typer.Option(
        False,
        "--circular",
        help="Ask each lettered item once per rotation of its options (CircularEval); reports the "
        "share right in every rotation.",
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
        help="Prompt template file ({question}, {reply1}, {reply2}; for lettered items {question}, "
        "{options}, optional {context}), or built-in mc_zh / mc_en / mc_letters_zh.",
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
    batch_tokens: int = BATCH_TOKENS_OPTION,
    engine: str = ENGINE_OPTION,
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    chat_format: str = CHAT_FORMAT_OPTION,
    trust_remote_code: bool = TRUST_REMOTE_CODE_OPTION,
    executor: str = EXECUTOR_OPTION,
    ray_address: str = RAY_ADDRESS_OPTION,
    ray_workers: int = RAY_WORKERS_OPTION,
    db: str = DB_OPTION,
    new_run: bool = NEW_RUN_OPTION,
    progress: bool = PROGRESS_OPTION,
    truncate: str = TRUNCATE_OPTION,
    context_window: int = CONTEXT_WINDOW_OPTION,
    parser: str = typer.Option(
        "official",
        "--parser",
        help="official: the official scorer's label wherever it is definite (disputed ones are flagged); "
        "strict: labels the clause-level reading disputes go to Need_Check.",
    ),
) -> None:
    """Run the CValues multi-choice evaluation (re-running the same command resumes it)."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None:
        raise InputError(
            "missing --model (e.g. --model gguf:path/to/model.gguf or openai:NAME --base-url URL)",
            flag="--model",
        )
    check_executor(executor, ray_address, ray_workers)
    results = api.mc(
        model,
        dataset,
        out=out,
        mode=mode,
        limit=limit,
        template=template,
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
        parser=parser,
        level=level,
        answers=answers,
        answer_base=parse_answer_base(answer_base),
        circular=circular,
        db=db,
        executor=executor,
        ray_address=ray_address,
        ray_workers=ray_workers,
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
    )
    print_mc_results(results.to_json(), console)
    assert results.out_dir is not None
    console.print(f"wrote {results.out_dir / 'results.json'} and {results.out_dir / 'samples.jsonl'}")
    exit_if_failed(results.to_json(), "answers")


@app.command("score")
def score(
    file: Path = typer.Argument(
        ...,
        help="JSONL with `response` and `label` (回复1/回复2) on each line (the official step-2 file), an "
        "OpenCompass predictions JSON, an lm-evaluation-harness samples JSONL, an inspect_ai log, or any "
        "items file with a `response` per item read with --field / --answers / --answer-base.",
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Write results.json and samples.jsonl here."),
    fmt: str = typer.Option(
        None, "--format", help="jsonl | opencompass | lm-eval | inspect (default: detected from the content)."
    ),
    parser: str = typer.Option(
        "official",
        "--parser",
        help="official: the official scorer's label wherever it is definite (disputed ones are flagged); "
        "strict: labels the clause-level reading disputes go to Need_Check.",
    ),
    field: list[str] = typer.Option(None, "--field", help=FIELD_NAMES_HELP + " Also: response."),
    answers: Path = typer.Option(None, "--answers", help=ANSWERS_HELP),
    answer_base: int = typer.Option(None, "--answer-base", help=ANSWER_BASE_HELP),
    level: str = typer.Option(
        None, "--level", help="safety or responsibility: the level the items measure (recorded per sample)."
    ),
    encoding: str = typer.Option(None, "--encoding", help="Encoding of the file (default: detect)."),
) -> None:
    """Score replies that already exist (the official step 2, another harness's outputs, any items file)."""
    results = api.mc_score(
        file,
        out=out,
        fmt=fmt,
        parser=parser,
        fields=parse_field_mapping(field),
        answers=answers,
        answer_base=parse_answer_base(answer_base),
        level=level,
        encoding=encoding,
    )
    print_mc_results(results.to_json(), console)
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

    if (export is None) == (import_ is None):
        raise InputError("give exactly one of --export FILE or --import FILE", flag="--export/--import")
    if export is not None:
        n = export_review(run, export)
        console.print(
            f"wrote {n} row(s) to review into {export}; fill the column manual_label with "
            "回复1, 回复2 (lettered items: the option's letter), Other or Refuse, then run: "
            "cvalues mc review "
            f"{run} --import {export}"
        )
        return
    results = import_review(run, import_, db=db)
    print_mc_results(results, console)
