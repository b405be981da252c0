"""A whole evaluation: a suite's tasks run one after another on one store and one loaded model,
ending in ``summary.json`` (the paper's row, every task's metrics with intervals) and ``report.html``.

A task that fails does not stop the others: the summary says which failed and why. Judge tasks
run only when a judge model is given; without one the summary says which columns need it. The
model is loaded once (on its first request) and shared by every task; a finished suite re-runs
with zero requests and without loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvalues.api._pairs import mc_from_pairs, pair_dataset, prompts_from_pairs
from cvalues.api._single import at_level, model_spec
from cvalues.api._summary import build_summary
from cvalues.core.backend import Backend, ModelSpec
from cvalues.core.errors import CValuesError
from cvalues.core.files import slug, write_json
from cvalues.core.requests import GenerationSettings
from cvalues.core.results import RunResults
from cvalues.core.version import __version__
from cvalues.data.modelscope import MODELSCOPE_SOURCES
from cvalues.data.prompt_sets import load_prompt_dataset
from cvalues.data.resolve import load_mc_dataset
from cvalues.models.availability import check_out_dir
from cvalues.models.registry import check_executor
from cvalues.report.build import build_report
from cvalues.report.report_files import write_report
from cvalues.scoring.rubrics import load_rubric
from cvalues.store import Store, open_store
from cvalues.tasks.generate_task import GenerateTask
from cvalues.tasks.judge import judge_settings
from cvalues.tasks.judge_inputs import load_run_input
from cvalues.tasks.judge_task import JudgeTask
from cvalues.tasks.mc import BUILTIN_TEMPLATES, load_template
from cvalues.tasks.mc_task import MCTask
from cvalues.tasks.pairs_task import PairsTask
from cvalues.tasks.run import RunOptions, Task, open_backend, run_sync, run_task_async
from cvalues.tasks.suite import Suite, SuiteTask, load_suite

LOCAL_PROVIDERS = ("hf", "gguf", "vllm")


@dataclass
class EvalResult:
    """What ``evaluate`` returns: the summary (as written to summary.json) and every task's results."""

    out_dir: Path
    summary: dict[str, Any]
    tasks: dict[str, RunResults] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    report: Path | None = None

    @property
    def ok(self) -> bool:
        """No task failed and no request failed."""
        return not self.failed and not any(r.failed_requests for r in self.tasks.values())


def _task_for(
    entry: SuiteTask,
    spec: ModelSpec,
    judge: ModelSpec | None,
    out_dir: Path,
    max_tokens: int | None,
    limit: int | None,
) -> Task:
    """The Task a suite entry describes (datasets are loaded and checked here)."""
    tokens = max_tokens or entry.max_tokens
    count = entry.limit if limit is None else min(limit, entry.limit or limit)
    if entry.kind == "mc":
        assert entry.dataset is not None
        if entry.dataset in MODELSCOPE_SOURCES:  # MC from pairs, the authors' way to a Level-1 set
            mc_data = mc_from_pairs(entry.dataset, entry.split, entry.pair_type, count)
        else:
            mc_data = load_mc_dataset(entry.dataset)
        template = entry.template
        tmpl = (
            load_template(None, builtin=template)
            if template in BUILTIN_TEMPLATES
            else load_template(template)
        )
        return MCTask(
            spec=spec,
            dataset=at_level(mc_data, entry.level),
            mode=entry.mode,  # type: ignore[arg-type]
            template=tmpl,
            settings=GenerationSettings(max_tokens=tokens or 128),
            limit=count,
            name="mc",
        )
    if entry.kind == "generate":
        assert entry.dataset is not None
        if entry.dataset in MODELSCOPE_SOURCES:
            prompts = prompts_from_pairs(entry.dataset, entry.split, count)
        else:
            prompts = load_prompt_dataset(entry.dataset)
        return GenerateTask(
            spec=spec,
            dataset=at_level(prompts, entry.level),
            settings=GenerationSettings(max_tokens=tokens or 512),
            n_samples=entry.samples,
            limit=count,
        )
    if entry.kind == "pairs":
        assert entry.dataset is not None
        pairs_data = pair_dataset(entry.dataset, entry.split, entry.pair_type, count)
        by_judge = entry.scorer == "judge"
        assert not by_judge or judge is not None
        return PairsTask(
            spec=judge if by_judge and judge is not None else spec,
            dataset=pairs_data,
            scorer=entry.scorer,
            rubric=load_rubric(entry.rubric or "pairwise") if by_judge else None,
            settings=GenerationSettings(max_tokens=tokens or 256),
        )
    assert judge is not None and entry.input is not None and entry.rubric is not None
    return JudgeTask(
        judge=judge,
        rubric=load_rubric(entry.rubric),
        source=load_run_input(out_dir / entry.input),
        settings=judge_settings(k=1, temperature=None, max_tokens=tokens or 512, top_p=None, seed=None),
    )


def _skip_reason(
    entry: SuiteTask, spec: ModelSpec, judge: ModelSpec | None, failed: dict[str, str]
) -> str | None:
    if (entry.kind == "judge" or (entry.kind == "pairs" and entry.scorer == "judge")) and judge is None:
        return "needs a judge model (--judge)"
    if entry.kind == "pairs" and entry.scorer == "logprob" and spec.provider not in LOCAL_PROVIDERS:
        return "log-probability pair scoring runs on local models"
    if entry.kind == "judge" and entry.input in failed:
        return f"its input task {entry.input!r} failed"
    if entry.kind == "mc" and entry.mode == "logprob" and spec.provider not in LOCAL_PROVIDERS:
        return (
            "logprob mode runs on local models; a server's log-probabilities are not guaranteed "
            "(cvalues mc --mode logprob tries)"
        )
    return None


async def evaluate_async(
    model: str | ModelSpec,
    suite: str | Path | Suite = "sample",
    *,
    out: str | Path | None = None,
    judge: str | ModelSpec | None = None,
    base_url: str | None = None,
    judge_base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    dtype: str | None = None,
    max_tokens: int | None = None,
    limit: int | None = None,
    db: str | None = None,
    store: Store | None = None,
    new_run: bool = False,
    progress: bool = True,
    concurrency: int = 8,
    batch_size: int = 8,
    device: str = "auto",
    max_retries: int = 6,
    engine: str = "fast",
    batch_tokens: int | None = None,
    truncate: str | None = None,
    context_window: int | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    ray_workers: int | None = None,
    on_stage: Any = None,
) -> EvalResult:
    """Run (or resume) every task of ``suite`` for ``model``; write summary.json and report.html.

    ``out`` defaults to ``runs/eval-<suite>-<model>``. ``max_tokens`` and ``limit`` override the
    suite's for every task (a quick look: ``limit=8``). ``executor`` ("local" or "ray"),
    ``ray_address`` and ``ray_workers``: how requests travel; None takes the suite's setting
    (``executor = "ray"`` in its TOML), else local, a local cluster, 2 workers. The model and the
    judge each get their own Ray actors. ``on_stage(index, total, name)`` is called before each
    task (the CLI prints a stage line).
    """
    loaded = suite if isinstance(suite, Suite) else load_suite(suite)
    chosen_executor = executor if executor is not None else loaded.executor or "local"
    # A suite's cluster settings apply only when its executor is the one chosen.
    from_suite = chosen_executor == (loaded.executor or "local")
    chosen_address = ray_address if ray_address is not None else (loaded.ray_address if from_suite else None)
    chosen_workers = (
        ray_workers if ray_workers is not None else (loaded.ray_workers if from_suite else None) or 2
    )
    check_executor(chosen_executor, chosen_address, chosen_workers)
    spec = model_spec(model, base_url=base_url, api_key_env=api_key_env, dtype=dtype)
    judge_spec = None
    if judge is not None:
        judge_spec = model_spec(judge, base_url=judge_base_url, api_key_env=api_key_env, flag="--judge")
    out_dir = Path(out) if out is not None else Path("runs") / f"eval-{slug(loaded.name)}-{slug(spec.name)}"
    check_out_dir(out_dir)
    opened = store is None
    the_store = open_store(db) if store is None else store
    result = EvalResult(out_dir=out_dir, summary={})
    options = RunOptions(
        out_dir=None,
        new_run=new_run,
        progress=progress,
        concurrency=concurrency,
        batch_size=batch_size,
        device=device,
        max_retries=max_retries,
        engine=engine,
        batch_tokens=batch_tokens,
        truncate=truncate,
        context_window=context_window,
        executor=chosen_executor,
        ray_address=chosen_address,
        ray_workers=chosen_workers,
    )
    backends: dict[str, Backend] = {}

    def backend_for(which: ModelSpec) -> Backend:
        if which.key not in backends:
            backends[which.key] = open_backend(which, options)
        return backends[which.key]

    def answering(entry: SuiteTask) -> ModelSpec | None:
        by_judge = entry.kind == "judge" or (entry.kind == "pairs" and entry.scorer == "judge")
        return judge_spec if by_judge else spec

    # The last task each model answers: its backend is closed after it, so the model's memory (or,
    # on Ray, its actors' CPUs) is free before the judge is loaded.
    last_use = {which.key: i for i, e in enumerate(loaded.tasks, start=1) if (which := answering(e))}
    try:
        total = len(loaded.tasks)
        for index, entry in enumerate(loaded.tasks, start=1):
            reason = _skip_reason(entry, spec, judge_spec, result.failed)
            if reason is not None:
                result.skipped[entry.name] = reason
                continue
            if on_stage is not None:
                on_stage(index, total, entry.name)
            which = answering(entry)
            assert which is not None
            try:
                task = _task_for(entry, spec, judge_spec, out_dir, max_tokens, limit)
                run_opts = replace(
                    options, out_dir=out_dir / entry.name, label=f"[{index}/{total}] {entry.name}"
                )
                result.tasks[entry.name] = await run_task_async(
                    task, run_opts, the_store, backend=backend_for(which)
                )
            except CValuesError as exc:
                result.failed[entry.name] = str(exc)
            except Exception as exc:  # one task's bug must not lose the others
                result.failed[entry.name] = f"{type(exc).__name__}: {exc}"
            if last_use.get(which.key) == index and which.key in backends:
                await backends.pop(which.key).aclose()
    finally:
        # Last opened, first closed: on Ray the first backend may own the local cluster the
        # judge's actors also run on.
        for backend in reversed(backends.values()):
            await backend.aclose()
        if opened:
            the_store.close()
    result.report = _write_report(result)
    result.summary = build_summary(
        loaded,
        spec,
        judge_spec,
        result.tasks,
        result.failed,
        result.skipped,
        report=result.report,
        created=datetime.now(UTC),
        version=__version__,
    )
    write_json(out_dir / "summary.json", result.summary)
    return result


def _write_report(result: EvalResult) -> Path | None:
    """report.html (and its companions) over the suite's finished runs; a report that fails says why."""
    dirs = [result.out_dir / name for name in result.tasks]
    if not dirs:
        return None
    try:
        report = build_report(dirs)
        if not report.runs:
            return None
        paths = write_report(report, result.out_dir)
    except CValuesError as exc:
        result.failed["report"] = str(exc)
        return None
    return paths.get("html")


def evaluate(model: str | ModelSpec, suite: str | Path | Suite = "sample", **kwargs: Any) -> EvalResult:
    """``evaluate_async`` from synchronous code; works inside a running event loop (Jupyter)."""
    return run_sync(lambda: evaluate_async(model, suite, **kwargs))


__all__ = ["EvalResult", "evaluate", "evaluate_async"]
