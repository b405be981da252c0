"""One judge run end to end: replies -> rubric -> executor -> parsed verdicts -> metrics -> files.

Judge requests go through the executor like any other, so they are cached by request hash: judging
the same replies again with the same judge, rubric and settings sends nothing. The run is
identified by its output directory, as for MC and generation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvalues import __version__
from cvalues.core.backend import ModelSpec
from cvalues.core.files import write_json, write_jsonl
from cvalues.core.requests import GenerationSettings
from cvalues.models.lazy import LazyBackend
from cvalues.scoring.judge_parsers import SCORE_KINDS
from cvalues.scoring.reply_metrics import compute_judge_metrics
from cvalues.scoring.rubrics import Rubric
from cvalues.tasks.judge import judge_targets, judgment_raw, judgment_record, request_groups
from cvalues.tasks.judge_inputs import JudgeInput
from cvalues.tasks.run_support import execution_summary, resolve_run, run_request_groups

if TYPE_CHECKING:
    from cvalues.core.backend import Backend
    from cvalues.store import JudgmentRow, Store

RESULTS_SCHEMA_VERSION = 1
TASK = "judge"
REFUSAL_METHOD = (
    "the judge's Refusal field where it gives one (Qwen3Guard), else rules "
    "(cvalues.scoring.refusal.classify_refusal); refusal_source in samples.jsonl says which"
)


@dataclass
class JudgeRunConfig:
    judge: ModelSpec
    rubric: Rubric
    source: JudgeInput
    out_dir: Path
    settings: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_tokens=512))
    judge_samples: int = 1
    limit: int | None = None
    concurrency: int = 8
    batch_size: int = 8
    device: str = "auto"
    max_retries: int = 6
    new_run: bool = False
    progress: bool = True

    def identity(self) -> dict[str, Any]:
        """What determines the verdicts: a resumed run must match it exactly."""
        return {
            "judge": self.judge.key,
            "rubric": {
                "name": self.rubric.name,
                "version": self.rubric.version,
                "sha256": self.rubric.sha256,
            },
            "generation": self.settings.to_dict(),
            "judge_samples": self.judge_samples,
            "input": input_identity(self.source.source),
        }

    @property
    def score_range(self) -> tuple[int, int]:
        options = self.rubric.output_options
        return int(options.get("minimum", 1)), int(options.get("maximum", 10))


def input_identity(source: dict[str, Any]) -> dict[str, Any]:
    """Which replies: the generate run(s) by id, or a responses file by path (its content is the dataset)."""
    if source["kind"] == "pair":
        return {
            "kind": "pair",
            "first": source["first"].get("run_id"),
            "second": source["second"].get("run_id"),
        }
    if source["kind"] == "run":
        return {"kind": "run", "run_id": source.get("run_id")}
    return {"kind": source["kind"], "path": source.get("path")}


def _dataset_id(store: Store, source: JudgeInput) -> int | None:
    """The judged replies' dataset in this store: a responses file is recorded as one; a generate
    run's dataset is found through that run, when it was made with the same store."""
    if source.items:
        info = source.dataset
        dataset_id = store.upsert_dataset(info["name"], info["source"], info["sha256"], len(source.items))
        store.save_items(dataset_id, source.items)
        return dataset_id
    first = source.source.get("first", source.source)
    run = store.get_run(first["run_id"]) if first.get("run_id") else None
    return run.dataset_id if run is not None else None


def run_judge(config: JudgeRunConfig, store: Store, *, backend: Backend | None = None) -> dict[str, Any]:
    """Run (or resume) a judge run; write results.json and samples.jsonl; return the results.

    ``backend`` replaces the judge made from ``config.judge`` (a model already loaded, in tests);
    it is then not closed.
    """
    units = config.source.units[: config.limit] if config.limit else list(config.source.units)
    run_id = resolve_run(
        store,
        task=TASK,
        out_dir=config.out_dir,
        identity=config.identity(),
        model_spec={
            "spec": f"{config.judge.provider}:{config.judge.name}",
            "base_url": config.judge.base_url,
        },
        dataset_id=_dataset_id(store, config.source),
        new_run=config.new_run,
    )
    targets = judge_targets(units, config.rubric)
    groups = request_groups(targets, config.rubric, config.settings, config.judge_samples)
    owned = backend is None
    judge = backend or LazyBackend(
        config.judge,
        concurrency=config.concurrency,
        batch_size=config.batch_size,
        device=config.device,
        max_retries=config.max_retries,
    )
    started = time.perf_counter()
    store.set_run_status(run_id, "running")
    try:
        executions = run_request_groups(groups, judge, store, progress=config.progress, close_backend=owned)
    except KeyboardInterrupt:
        store.set_run_status(run_id, "interrupted")
        raise

    records: list[dict[str, Any]] = []
    rows: list[JudgmentRow] = []
    for index, target in enumerate(targets):
        responses = [execution.responses[index] for execution in executions]
        hashes = [execution.hashes[index] for execution in executions]
        record = judgment_record(target, config.rubric, responses, hashes)
        records.append(record)
        if record["error"] is None:  # a failed request is no judgment; the next run retries it
            rows.append(_judgment_row(record, config, hashes))
    store.save_judgments(run_id, rows)
    first_error = next((r["error"] for r in records if r["error"]), None)
    results = assemble_results(
        run_id=run_id,
        config=config,
        records=records,
        n_units=len(units),
        execution=execution_summary(executions, started, first_error),
        seeds=[group.settings.seed for group in groups],
    )
    write_jsonl(config.out_dir / "samples.jsonl", records)  # results.json last: it marks a complete run
    write_json(config.out_dir / "results.json", results)
    store.set_run_status(run_id, "failed" if results["execution"]["n_failed"] else "finished")
    return results


def _judgment_row(record: dict[str, Any], config: JudgeRunConfig, hashes: list[str]) -> JudgmentRow:
    from cvalues.store.store import JudgmentRow

    return JudgmentRow(
        item_key=record["id"],
        sample_index=record["sample"],
        variant=record["variant"] or "",
        response_hash=record["response_hash"],
        judge_key=config.judge.key,
        rubric=config.rubric.name,
        rubric_version=config.rubric.version,
        request_hash=hashes[0],
        raw=judgment_raw(record, hashes),
        label=record["label"],
        score=record["score"],
        parsed=record["parsed"],
    )


def assemble_results(
    *,
    run_id: str,
    config: JudgeRunConfig,
    records: list[dict[str, Any]],
    n_units: int,
    execution: dict[str, Any],
    seeds: list[int | None],
) -> dict[str, Any]:
    rubric = config.rubric
    score_range = config.score_range if rubric.output in SCORE_KINDS else (1, 10)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "cvalues_version": __version__,
        "run_id": run_id,
        "task": TASK,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        # The model whose replies were judged (the contract's `model`); the judge is under `judge`.
        "model": config.source.generator,
        "generator": config.source.generator,
        "judge": {
            "spec": f"{config.judge.provider}:{config.judge.name}",
            "base_url": config.judge.base_url,
            "dtype": config.judge.dtype,
            "settings": config.settings.to_dict(),
            "judge_samples": config.judge_samples,
            "sample_seeds": seeds,
        },
        "rubric": {
            "name": rubric.name,
            "version": rubric.version,
            "kind": rubric.kind,
            "output": rubric.output,
            "score_range": list(score_range) if rubric.output in SCORE_KINDS else None,
            "source": rubric.source,
            "sha256": rubric.sha256,
        },
        "input": {
            **config.source.source,
            "n_replies": n_units,
            "n_replies_available": len(config.source.units),
            "n_without_reply": config.source.n_without_reply,
            "limit": config.limit,
        },
        "dataset": config.source.dataset,
        **compute_judge_metrics(records, output_kind=rubric.output, score_range=score_range),
        "refusal_method": REFUSAL_METHOD,
        "execution": execution,
    }


__all__ = ["JudgeRunConfig", "assemble_results", "input_identity", "run_judge"]
