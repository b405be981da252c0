"""One task from Python: ``cvalues.mc``, ``cvalues.generate``, ``cvalues.judge``, ``cvalues.mc_score``.

Each function checks every input before anything is written (an ``InputError`` names the file and
line, or the option), builds the task, and runs it on the run core. The CLI commands are these
functions with flags. Each has an ``_async`` form for code that already runs an event loop; the
synchronous form works inside one too (Jupyter).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.files import slug
from cvalues.core.requests import GenerationSettings
from cvalues.core.results import RunResults
from cvalues.data.circular import circular_dataset
from cvalues.data.items import MCDataset, MCItem, PromptItem
from cvalues.data.prompt_sets import PromptDataset, load_prompt_dataset
from cvalues.data.resolve import load_mc_dataset
from cvalues.models.availability import check_model_available, check_out_dir
from cvalues.models.chat_formats import (
    guess_chat_format,
    has_chat_template,
    read_model_config,
    resolve_chat_format_option,
)
from cvalues.models.registry import check_executor
from cvalues.scoring.rubrics import load_rubric
from cvalues.store import Store, open_store
from cvalues.tasks.generate import check_samples
from cvalues.tasks.generate_task import GenerateTask
from cvalues.tasks.judge import judge_settings
from cvalues.tasks.judge_inputs import JudgeInput, load_responses_input, load_run_input, pair_inputs
from cvalues.tasks.judge_task import JudgeTask
from cvalues.tasks.mc import BUILTIN_TEMPLATES, MODES, check_parser, dataset_kind, load_template
from cvalues.tasks.mc_score import MCScoreTask
from cvalues.tasks.mc_task import MCTask
from cvalues.tasks.run import RunOptions, Task, run_sync, run_task_async

LEVELS = ("safety", "responsibility")


def local_model_options(model: str, chat_format: str | None, trust_remote_code: bool) -> dict[str, Any]:
    """``ModelSpec.parse`` keywords for ``--chat-format`` and ``--trust-remote-code``.

    An explicit chat format is checked here (a bad name or file is exit 2 before anything is
    written); without one, a local model whose name names a known family gets its format
    (``models.chat_formats.guess_chat_format``), so the choice is in the run's identity; a local
    folder that ships a chat template keeps it.
    """
    provider, _, name = model.partition(":")
    resolved: str | None = None
    if chat_format:
        resolved = resolve_chat_format_option(chat_format)
    elif provider in ("hf", "gguf", "vllm") and not has_chat_template(Path(name).expanduser()):
        resolved = guess_chat_format(name, read_model_config(Path(name).expanduser()))
        if resolved == "chatplug":
            resolved = None  # not runnable here; the backend would refuse it
    return {"chat_format": resolved, "trust_remote_code": trust_remote_code}


def model_spec(
    model: str | ModelSpec,
    *,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    dtype: str | None = None,
    chat_format: str | None = None,
    trust_remote_code: bool = False,
    flag: str = "--model",
) -> ModelSpec:
    """``model`` as a checked ModelSpec (a spec string is parsed; a file or directory must exist)."""
    spec = (
        model
        if isinstance(model, ModelSpec)
        else ModelSpec.parse(
            model,
            base_url=base_url,
            api_key_env=api_key_env,
            dtype=dtype,
            **local_model_options(model, chat_format, trust_remote_code),
        )
    )
    check_model_available(spec, flag=flag)
    return spec


RUN_KEYS = frozenset(
    {
        "new_run",
        "progress",
        "concurrency",
        "batch_size",
        "device",
        "max_retries",
        "engine",
        "batch_tokens",
        "executor",
        "ray_address",
        "ray_workers",
        "truncate",
        "context_window",
    }
)


def split_options(kwargs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the task's keyword arguments, the run's): how a run is carried out is not what it asks.

    The executor keywords are checked here, first of all (an InputError naming the flag), so a bad
    one is refused before a dataset is read or a server is probed.
    """
    task = {k: v for k, v in kwargs.items() if k not in RUN_KEYS}
    run = {k: v for k, v in kwargs.items() if k in RUN_KEYS}
    check_executor(run.get("executor", "local"), run.get("ray_address"), run.get("ray_workers", 2))
    return task, run


def run_options(out_dir: Path | None, options: Mapping[str, Any]) -> RunOptions:
    """Run options from keyword arguments (``RUN_KEYS``, as ``split_options`` checked them): how
    the run is carried out, e.g. ``executor="ray", ray_address=None, ray_workers=2`` to spread it
    over a Ray cluster."""
    unknown = set(options) - RUN_KEYS
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; known: {sorted(RUN_KEYS)}")
    return RunOptions(out_dir=out_dir, **options)


async def run_with_store(
    task: Task,
    options: RunOptions,
    *,
    db: str | None = None,
    store: Store | None = None,
    backend: Backend | None = None,
) -> RunResults:
    """Run ``task`` with the given store, or one opened from ``db`` (and closed after)."""
    if store is not None:
        return await run_task_async(task, options, store, backend=backend)
    opened = open_store(db)
    try:
        return await run_task_async(task, options, opened, backend=backend)
    finally:
        opened.close()


def _generation(
    max_tokens: int, temperature: float, top_p: float | None, seed: int | None, system_prompt: str | None
) -> GenerationSettings:
    return GenerationSettings(
        temperature=temperature, max_tokens=max_tokens, top_p=top_p, seed=seed, system_prompt=system_prompt
    )


def at_level(dataset: Any, level: str | None) -> Any:
    """The dataset with only the items of ``level`` (None: all of them)."""
    if level is None:
        return dataset
    if level not in LEVELS:
        raise InputError(f"must be one of {', '.join(LEVELS)}, got {level!r}", flag="--level")
    items: list[MCItem | PromptItem] = [item for item in dataset.items if item.level == level]
    if not items:
        raise InputError(f"dataset {dataset.name!r} has no {level} items", flag="--level")
    cls = type(dataset)
    fields = {name: getattr(dataset, name) for name in dataset.__dataclass_fields__}
    return cls(**{**fields, "items": items})


# -- mc ----------------------------------------------------------------------------------------


def mc_task(
    model: str | ModelSpec,
    dataset: str | MCDataset = "sample",
    *,
    mode: str = "generate",
    limit: int | None = None,
    level: str | None = None,
    template: str | None = None,
    fields: dict[str, str] | None = None,
    encoding: str | None = None,
    fmt: str | None = None,
    max_tokens: int = 128,
    temperature: float = 0.0,
    top_p: float | None = None,
    seed: int | None = None,
    system_prompt: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    dtype: str | None = None,
    chat_format: str | None = None,
    trust_remote_code: bool = False,
    parser: str = "official",
    answers: str | Path | None = None,
    answer_base: int | None = None,
    circular: bool = False,
) -> MCTask:
    """The MC task, every input checked (nothing is written)."""
    if mode not in MODES:
        raise InputError(f"must be one of {', '.join(MODES)}, got {mode!r}", flag="--mode")
    spec = model_spec(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        dtype=dtype,
        chat_format=chat_format,
        trust_remote_code=trust_remote_code,
    )
    if isinstance(dataset, MCDataset):
        loaded = at_level(dataset, level)
    else:
        options: dict[str, Any] = {
            "fields": fields,
            "encoding": encoding,
            "fmt": fmt,
            "answers": Path(answers) if answers is not None else None,
            "answer_base": answer_base,
        }
        try:  # --level declares the level of a file that has none ...
            loaded = load_mc_dataset(dataset, level=level, **options)  # type: ignore[arg-type]
        except InputError as refused:
            if level is None or refused.flag != "--level":
                raise
            # ... and keeps only that level's items of a dataset that knows its levels.
            loaded = at_level(load_mc_dataset(dataset, **options), level)
    if not loaded.items:
        raise InputError("dataset has no items", path=loaded.source)
    kind = dataset_kind(loaded.items)
    if circular:
        if kind != "letters":
            raise InputError(
                "--circular rotates lettered options; 回复1/回复2 pairs are already asked in both orders",
                flag="--circular",
            )
        loaded = circular_dataset(loaded)
    if template in BUILTIN_TEMPLATES:
        tmpl = load_template(None, builtin=template, kind=kind)
    else:
        tmpl = load_template(template, kind=kind)
    return MCTask(
        spec=spec,
        dataset=loaded,
        mode=mode,
        template=tmpl,
        settings=_generation(max_tokens, temperature, top_p, seed, system_prompt),
        limit=limit,
        strict=check_parser(parser),
    )


def default_mc_out(task: MCTask) -> Path:
    return Path("runs") / f"{slug(task.dataset.name)}-{slug(task.spec.name)}-{task.mode}"


async def mc_async(
    model: str | ModelSpec,
    dataset: str | MCDataset = "sample",
    *,
    out: str | Path | None = None,
    db: str | None = None,
    store: Store | None = None,
    backend: Backend | None = None,
    **kwargs: Any,
) -> RunResults:
    """Run (or resume) the CValues multi-choice evaluation; see ``mc_task`` for the options.

    ``out`` defaults to ``runs/<dataset>-<model>-<mode>``. Run options (every run function takes
    them): new_run, progress, concurrency, batch_size, batch_tokens, engine, device, max_retries,
    executor ("local" or "ray"), ray_address (default: a local cluster), ray_workers.
    """
    task_options, run_kwargs = split_options(kwargs)
    task = mc_task(model, dataset, **task_options)
    out_dir = Path(out) if out is not None else default_mc_out(task)
    check_out_dir(out_dir)
    options = run_options(out_dir, run_kwargs)
    return await run_with_store(task, options, db=db, store=store, backend=backend)


def mc(model: str | ModelSpec, dataset: str | MCDataset = "sample", **kwargs: Any) -> RunResults:
    """``mc_async`` from synchronous code (scripts, notebooks)."""
    return run_sync(lambda: mc_async(model, dataset, **kwargs))


def mc_score(
    file: str | Path,
    *,
    out: str | Path | None = None,
    fmt: str | None = None,
    parser: str = "official",
    fields: dict[str, str] | None = None,
    answers: str | Path | None = None,
    answer_base: int | None = None,
    level: str | None = None,
    encoding: str | None = None,
) -> RunResults:
    """Score replies that already exist: the official step-2 file, or another harness's outputs
    (``fmt``: jsonl, opencompass, lm-eval, inspect; detected when None). Writes files when ``out``."""
    out_dir = Path(out) if out is not None else None
    check_out_dir(out_dir)
    task = MCScoreTask(
        Path(file),
        fmt=fmt,
        strict=check_parser(parser),
        fields=fields,
        answers=Path(answers) if answers is not None else None,
        answer_base=answer_base,  # type: ignore[arg-type]
        level=level,  # type: ignore[arg-type]
        encoding=encoding,
    )
    return run_sync(lambda: run_task_async(task, RunOptions(out_dir=out_dir), None))


# -- generate ----------------------------------------------------------------------------------


def generate_task(
    model: str | ModelSpec,
    dataset: str | PromptDataset = "sample",
    *,
    samples: int = 1,
    limit: int | None = None,
    level: str | None = None,
    fields: dict[str, str] | None = None,
    encoding: str | None = None,
    fmt: str | None = None,
    max_tokens: int = 512,
    temperature: float = 0.0,
    top_p: float | None = None,
    seed: int | None = None,
    system_prompt: str | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    dtype: str | None = None,
    chat_format: str | None = None,
    trust_remote_code: bool = False,
) -> GenerateTask:
    settings = _generation(max_tokens, temperature, top_p, seed, system_prompt)
    check_samples(samples, settings)
    spec = model_spec(
        model,
        base_url=base_url,
        api_key_env=api_key_env,
        dtype=dtype,
        chat_format=chat_format,
        trust_remote_code=trust_remote_code,
    )
    loaded = (
        dataset
        if isinstance(dataset, PromptDataset)
        else load_prompt_dataset(dataset, fields=fields, encoding=encoding, fmt=fmt)
    )
    if not loaded.items:
        raise InputError("the prompt set has no prompts", path=loaded.source)
    loaded = at_level(loaded, level)
    return GenerateTask(spec=spec, dataset=loaded, settings=settings, n_samples=samples, limit=limit)


def default_generate_out(task: GenerateTask) -> Path:
    return Path("runs") / f"{slug(task.dataset.name)}-{slug(task.spec.name)}-generate"


async def generate_async(
    model: str | ModelSpec,
    dataset: str | PromptDataset = "sample",
    *,
    out: str | Path | None = None,
    db: str | None = None,
    store: Store | None = None,
    backend: Backend | None = None,
    **kwargs: Any,
) -> RunResults:
    """Generate replies to a prompt set (resumable); ``out`` defaults to runs/<dataset>-<model>-generate.

    Run options as ``mc_async``, e.g. ``executor="ray", ray_workers=4`` to spread it over a Ray cluster.
    """
    task_options, run_kwargs = split_options(kwargs)
    task = generate_task(model, dataset, **task_options)
    out_dir = Path(out) if out is not None else default_generate_out(task)
    check_out_dir(out_dir)
    options = run_options(out_dir, run_kwargs)
    return await run_with_store(task, options, db=db, store=store, backend=backend)


def generate(model: str | ModelSpec, dataset: str | PromptDataset = "sample", **kwargs: Any) -> RunResults:
    return run_sync(lambda: generate_async(model, dataset, **kwargs))


# -- judge -------------------------------------------------------------------------------------


def judge_source(
    run_dir: Path | None,
    responses: Path | None,
    against: Path | None,
    fields: dict[str, str] | None,
    encoding: str | None,
) -> JudgeInput:
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
    source, _ = pair_inputs(first, load_run_input(against, flag="--against"), against)
    return source


def judge_task(
    judge: str | ModelSpec,
    run_dir: str | Path | None = None,
    *,
    rubric: str = "safety",
    responses: str | Path | None = None,
    against: str | Path | None = None,
    judge_samples: int = 1,
    limit: int | None = None,
    fields: dict[str, str] | None = None,
    encoding: str | None = None,
    max_tokens: int = 512,
    temperature: float | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    dtype: str | None = None,
    chat_format: str | None = None,
    trust_remote_code: bool = False,
) -> JudgeTask:
    run_path = Path(run_dir) if run_dir is not None else None
    responses_path = Path(responses) if responses is not None else None
    against_path = Path(against) if against is not None else None
    if (run_path is None) == (responses_path is None):
        raise InputError(
            "give a RUN_DIR of `cvalues generate` or --responses FILE (one of them)", flag="RUN_DIR"
        )
    spec = (
        ModelSpec.parse(
            judge,
            base_url=base_url,
            api_key_env=api_key_env,
            dtype=dtype,
            **local_model_options(judge, chat_format, trust_remote_code),
        )
        if isinstance(judge, str)
        else judge
    )
    loaded_rubric = load_rubric(rubric)
    if loaded_rubric.kind == "pairwise" and (against_path is None or run_path is None):
        raise InputError(
            f"rubric {loaded_rubric.name!r} compares two runs: give RUN_DIR and --against RUN_DIR2",
            flag="--against",
        )
    if loaded_rubric.kind != "pairwise" and against_path is not None:
        raise InputError(f"--against needs a pairwise rubric, not {loaded_rubric.name!r}", flag="--against")
    settings = judge_settings(
        k=judge_samples, temperature=temperature, max_tokens=max_tokens, top_p=top_p, seed=seed
    )
    check_model_available(spec, flag="--judge")
    source = judge_source(run_path, responses_path, against_path, fields, encoding)
    if not source.units:
        raise InputError("no replies to judge (every generation failed?)", path=run_path or responses_path)
    return JudgeTask(
        judge=spec,
        rubric=loaded_rubric,
        source=source,
        settings=settings,
        judge_samples=judge_samples,
        limit=limit,
    )


def default_judge_out(task: JudgeTask, run_dir: Path | None, responses: Path | None) -> Path:
    if run_dir is not None:
        return run_dir.parent / f"{run_dir.resolve().name}-{slug(task.rubric.name)}"
    assert responses is not None
    return Path("runs") / f"{slug(responses.stem)}-{slug(task.rubric.name)}"


async def judge_async(
    judge: str | ModelSpec,
    run_dir: str | Path | None = None,
    *,
    out: str | Path | None = None,
    db: str | None = None,
    store: Store | None = None,
    backend: Backend | None = None,
    **kwargs: Any,
) -> RunResults:
    """Judge a generate run's replies (or a responses file) with a rubric; resumable.

    ``out`` defaults to ``<RUN_DIR>-<rubric>`` beside the run, or ``runs/<file>-<rubric>``. Run
    options as ``mc_async`` (``executor="ray"``: the judge's copies on a Ray cluster).
    """
    task_options, run_kwargs = split_options(kwargs)
    task = judge_task(judge, run_dir, **task_options)
    run_path = Path(run_dir) if run_dir is not None else None
    responses = kwargs.get("responses")
    out_dir = (
        Path(out)
        if out is not None
        else default_judge_out(task, run_path, Path(responses) if responses is not None else None)
    )
    check_out_dir(out_dir)
    for given in (run_path, kwargs.get("against")):
        if given is not None and out_dir.resolve() == Path(given).resolve():
            raise InputError(
                f"--out {out_dir} is the run directory being judged; choose another", flag="--out"
            )
    options = run_options(out_dir, run_kwargs)
    return await run_with_store(task, options, db=db, store=store, backend=backend)


def judge(judge: str | ModelSpec, run_dir: str | Path | None = None, **kwargs: Any) -> RunResults:
    return run_sync(lambda: judge_async(judge, run_dir, **kwargs))


__all__ = [
    "at_level",
    "generate",
    "generate_async",
    "generate_task",
    "judge",
    "judge_async",
    "judge_task",
    "mc",
    "mc_async",
    "mc_score",
    "mc_task",
    "model_spec",
    "run_options",
]
