"""``cvalues judge``: score replies with an LLM judge rubric or a guard model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from cvalues.tasks.judge_inputs import JudgeInput

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
    dtype: str = DTYPE_OPTION,
    device: str = DEVICE_OPTION,
    chat_format: str = CHAT_FORMAT_OPTION,
    trust_remote_code: bool = TRUST_REMOTE_CODE_OPTION,
    db: str = DB_OPTION,
    new_run: bool = NEW_RUN_OPTION,
    progress: bool = PROGRESS_OPTION,
) -> None:
    """Judge replies: safety score, responsibility score, refusal rates (judging again sends nothing)."""
    from cvalues.cli.options import parse_field_mapping
    from cvalues.core.backend import ModelSpec
    from cvalues.report.reply_terminal import print_judge_results
    from cvalues.scoring.rubrics import load_rubric
    from cvalues.tasks.judge import judge_settings
    from cvalues.tasks.judge_runner import JudgeRunConfig, run_judge

    # Everything that can be wrong with the input is checked before anything is written.
    if judge_model is None:
        raise InputError("missing --judge (e.g. --judge openai:NAME --base-url URL)", flag="--judge")
    if (run_dir is None) == (responses is None):
        raise InputError(
            "give a RUN_DIR of `cvalues generate` or --responses FILE (one of them)", flag="RUN_DIR"
        )
    spec = ModelSpec.parse(
        judge_model,
        base_url=base_url,
        api_key_env=api_key_env,
        dtype=dtype,
        **local_model_options(judge_model, chat_format, trust_remote_code),
    )
    loaded_rubric = load_rubric(rubric)
    if loaded_rubric.kind == "pairwise" and (against is None or run_dir is None):
        raise InputError(
            f"rubric {loaded_rubric.name!r} compares two runs: give RUN_DIR and --against RUN_DIR2",
            flag="--against",
        )
    if loaded_rubric.kind != "pairwise" and against is not None:
        raise InputError(f"--against needs a pairwise rubric, not {loaded_rubric.name!r}", flag="--against")
    settings = judge_settings(
        k=judge_samples, temperature=temperature, max_tokens=max_tokens, top_p=top_p, seed=seed
    )
    check_model_available(spec, flag="--judge")
    source = _load_source(run_dir, responses, against, parse_field_mapping(field), encoding)
    if not source.units:
        raise InputError("no replies to judge (every generation failed?)", path=run_dir or responses)
    if out is not None:
        out_dir = out
    elif run_dir is not None:
        out_dir = run_dir.parent / f"{run_dir.resolve().name}-{slug(loaded_rubric.name)}"
    else:
        assert responses is not None
        out_dir = Path("runs") / f"{slug(responses.stem)}-{slug(loaded_rubric.name)}"
    check_out_dir(out_dir)
    for given in (run_dir, against):
        if given is not None and out_dir.resolve() == given.resolve():
            raise InputError(
                f"--out {out_dir} is the run directory being judged; choose another", flag="--out"
            )
    config = JudgeRunConfig(
        judge=spec,
        rubric=loaded_rubric,
        source=source,
        out_dir=out_dir,
        settings=settings,
        judge_samples=judge_samples,
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
        results = run_judge(config, store)
    finally:
        store.close()
    print_judge_results(results, console)
    console.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'samples.jsonl'}")
    exit_if_failed(results, "judgments")


def _load_source(
    run_dir: Path | None,
    responses: Path | None,
    against: Path | None,
    fields: dict[str, str],
    encoding: str | None,
) -> JudgeInput:
    from cvalues.tasks.judge_inputs import load_responses_input, load_run_input, pair_inputs

    if responses is not None:
        return load_responses_input(responses, fields=fields, encoding=encoding)
    if fields or encoding:
        raise InputError(
            "--field and --encoding apply to --responses files, not to run directories", flag="--field"
        )
    assert run_dir is not None
    first = load_run_input(run_dir)
    if against is None:
        return first
    paired, _ = pair_inputs(first, load_run_input(against, flag="--against"), against)
    return paired
