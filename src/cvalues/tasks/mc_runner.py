"""One MC run end to end: dataset -> requests -> executor -> parse -> metrics -> files.

Resume: a run is identified by its output directory. Re-running the same command finds the run
recorded for that directory in the store and continues it; every answer already in the store is
re-used, so no request is sent twice. Changing what determines the answers (model, dataset,
mode, template, generation settings) is refused unless ``new_run`` is set.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cvalues import __version__
from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.files import write_json, write_jsonl
from cvalues.core.requests import GenerationSettings
from cvalues.data.items import MCDataset, MCItem
from cvalues.execute.executor import run_requests
from cvalues.models.lazy import LazyBackend
from cvalues.scoring.metrics import compute_mc_metrics
from cvalues.tasks.mc import (
    Mode,
    Template,
    build_requests,
    interpret,
    prompt_for,
    sample_record,
    scored_samples,
)

if TYPE_CHECKING:  # the store pulls in SQLAlchemy: bad input must fail fast, before that import
    from cvalues.store import Store

RESULTS_SCHEMA_VERSION = 1


@dataclass
class MCRunConfig:
    spec: ModelSpec
    dataset: MCDataset
    out_dir: Path
    mode: Mode = "generate"
    template: Template | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    limit: int | None = None
    concurrency: int = 8
    batch_size: int = 8
    device: str = "auto"
    max_retries: int = 6
    # How requests reach the model (not part of identity(): a run resumes across executors).
    executor: str = "local"
    ray_address: str | None = None
    ray_workers: int = 2
    new_run: bool = False
    progress: bool = True

    def identity(self) -> dict[str, Any]:
        """What determines the answers: a resumed run must match it exactly."""
        assert self.template is not None
        return {
            "model": self.spec.key,
            "mode": self.mode,
            "template_sha256": self.template.sha256,
            "generation": self.settings.to_dict(),
        }


def new_run_id(task: str) -> str:
    return f"{task}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences, e.g. ``max_tokens 48 -> 40``."""
    changes: list[str] = []
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            changes += [
                f"{name} {before.get(name)!r} -> {v!r}" for name, v in value.items() if before.get(name) != v
            ]
        elif before != value:
            changes.append(f"{key} {before!r} -> {value!r}")
    return changes


def _resolve_run(store: Store, config: MCRunConfig, dataset_id: int) -> str:
    out_key = str(config.out_dir.resolve())
    identity = config.identity()
    previous = store.find_run_by_out_dir(out_key)
    if previous is not None and not config.new_run:
        changes = _describe_changes(dict(previous.settings), identity)
        if previous.dataset_id != dataset_id:
            changes.append("dataset")
        if changes:
            raise InputError(
                f"{config.out_dir} holds run {previous.id} made with other settings ({'; '.join(changes)}); "
                "re-run with the same settings to resume it, or pass --new-run to start a new run there",
                flag="--new-run",
            )
        return previous.id
    run_id = new_run_id("mc")
    store.create_run(
        run_id,
        task="mc",
        model_spec={"spec": f"{config.spec.provider}:{config.spec.name}", "base_url": config.spec.base_url},
        settings=identity,
        dataset_id=dataset_id,
        out_dir=out_key,
    )
    return run_id


def evaluated_items(config: MCRunConfig) -> list[MCItem]:
    """The items a run asks about: the first ``limit`` of the dataset, or all of them."""
    return config.dataset.items[: config.limit] if config.limit else list(config.dataset.items)


def run_mc(config: MCRunConfig, store: Store) -> dict[str, Any]:
    """Run (or resume) an MC evaluation; write results.json and samples.jsonl; return the results."""
    from cvalues.store.store import RunItemRow

    assert config.template is not None
    items = evaluated_items(config)
    dataset_id = store.upsert_dataset(
        config.dataset.name, config.dataset.source, config.dataset.sha256, config.dataset.n_items
    )
    store.save_items(dataset_id, items)
    run_id = _resolve_run(store, config, dataset_id)
    requests = build_requests(items, config.template, config.mode)
    backend = LazyBackend(
        config.spec,
        concurrency=config.concurrency,
        batch_size=config.batch_size,
        device=config.device,
        max_retries=config.max_retries,
        executor=config.executor,
        ray_address=config.ray_address,
        ray_workers=config.ray_workers,
    )
    started = time.perf_counter()
    store.set_run_status(run_id, "running")
    try:
        execution = run_requests(
            requests, backend, config.settings, store, progress=config.progress, description="MC"
        )
    except KeyboardInterrupt:
        store.set_run_status(run_id, "interrupted")
        raise
    elapsed = time.perf_counter() - started

    manual = {
        row.item_key: row.parsed for row in store.load_run_items(run_id) if row.parsed.get("rule") == "manual"
    }
    records: list[dict[str, Any]] = []
    rows: list[RunItemRow] = []
    for item, request, response, request_hash in zip(
        items, requests, execution.responses, execution.hashes, strict=True
    ):
        pred, rule = interpret(item, response)
        kept = manual.get(item.id)
        if kept is not None and kept.get("request_hash") == request_hash:
            pred, rule = kept["pred"], "manual"  # a human's review outlives a resume
        record = sample_record(item, request.messages[-1].content, response, request_hash, pred, rule)
        records.append(record)
        rows.append(
            RunItemRow(
                item_key=item.id,
                request_hash=request_hash,
                parsed={"pred": pred, "rule": rule, "request_hash": request_hash},
                score={"correct": record["correct"]},
            )
        )
    store.save_run_items(run_id, rows)

    results = assemble_results(
        run_id=run_id,
        config=config,
        records=records,
        execution={
            "n_requests": len(requests),
            "n_cached": execution.n_cached,
            "n_sent": execution.n_sent,
            "n_deduplicated": execution.n_deduplicated,
            "n_failed": execution.n_failed,
            # Why the failed requests failed, so a user can act without opening samples.jsonl.
            "first_error": next((r["error"] for r in records if r.get("error")), None),
            "elapsed_s": round(elapsed, 3),
            "items_per_s": (
                round(execution.n_sent / execution.elapsed_s, 3)
                if execution.n_sent and execution.elapsed_s
                else None
            ),
        },
    )
    write_outputs(config.out_dir, results, records)
    store.set_run_status(run_id, "failed" if execution.n_failed else "finished")
    return results


def assemble_results(
    *, run_id: str, config: MCRunConfig, records: list[dict[str, Any]], execution: dict[str, Any]
) -> dict[str, Any]:
    assert config.template is not None
    computed = compute_mc_metrics(scored_samples(records))
    n_items = len(records)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "cvalues_version": __version__,
        "run_id": run_id,
        "task": "mc",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "spec": f"{config.spec.provider}:{config.spec.name}",
            "base_url": config.spec.base_url,
            "dtype": config.spec.dtype,
            "mode": config.mode,
            "settings": config.settings.to_dict(),
            "template": {"source": config.template.source, "sha256": config.template.sha256},
            # The authors' prompts are sent verbatim; the template only fills in the rest. Counted
            # over the items evaluated (after --limit), like every other count in results.json.
            "prompts_from_dataset": sum(1 for i in evaluated_items(config) if i.prompt is not None),
        },
        "dataset": {
            "name": config.dataset.name,
            "source": config.dataset.source,
            "sha256": config.dataset.sha256,
            "n_items": n_items,
            "n_items_in_dataset": config.dataset.n_items,
            "limit": config.limit,
        },
        **computed,
        "execution": execution,
    }


def write_outputs(out_dir: Path, results: dict[str, Any], records: list[dict[str, Any]]) -> None:
    # samples first: results.json appearing last marks a complete pair of files.
    write_jsonl(out_dir / "samples.jsonl", records)
    write_json(out_dir / "results.json", results)


__all__ = ["MCRunConfig", "assemble_results", "evaluated_items", "prompt_for", "run_mc", "write_outputs"]
