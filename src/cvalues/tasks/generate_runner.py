"""One generation run end to end: prompt set -> requests (n samples) -> executor -> refusal -> files.

Resume works as for MC: the run is identified by its output directory, every reply already in the
store is re-used, and changing the model, the generation settings or the number of samples is
refused unless ``new_run`` is set.
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
from cvalues.data.prompt_sets import PromptDataset
from cvalues.models.lazy import LazyBackend
from cvalues.scoring.reply_metrics import compute_generate_metrics
from cvalues.tasks.generate import reply_record, request_groups
from cvalues.tasks.run_support import execution_summary, resolve_run, run_request_groups

if TYPE_CHECKING:
    from cvalues.core.backend import Backend
    from cvalues.store import Store

RESULTS_SCHEMA_VERSION = 1
TASK = "generate"


@dataclass
class GenerateRunConfig:
    spec: ModelSpec
    dataset: PromptDataset
    out_dir: Path
    settings: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_tokens=512))
    n_samples: int = 1
    limit: int | None = None
    concurrency: int = 8
    batch_size: int = 8
    device: str = "auto"
    max_retries: int = 6
    new_run: bool = False
    progress: bool = True

    def identity(self) -> dict[str, Any]:
        """What determines the replies: a resumed run must match it exactly."""
        return {"model": self.spec.key, "generation": self.settings.to_dict(), "samples": self.n_samples}


def run_generate(
    config: GenerateRunConfig, store: Store, *, backend: Backend | None = None
) -> dict[str, Any]:
    """Run (or resume) a generation run; write results.json and samples.jsonl; return the results.

    ``backend`` replaces the one made from ``config.spec`` (a model already loaded, in tests);
    it is then not closed.
    """
    from cvalues.store.store import RunItemRow

    items = config.dataset.items[: config.limit] if config.limit else list(config.dataset.items)
    dataset_id = store.upsert_dataset(
        config.dataset.name, config.dataset.source, config.dataset.sha256, config.dataset.n_items
    )
    store.save_items(dataset_id, items)
    run_id = resolve_run(
        store,
        task=TASK,
        out_dir=config.out_dir,
        identity=config.identity(),
        model_spec=_model_spec(config.spec),
        dataset_id=dataset_id,
        new_run=config.new_run,
    )
    groups = request_groups(items, config.settings, config.n_samples)
    owned = backend is None
    model = backend or LazyBackend(
        config.spec,
        concurrency=config.concurrency,
        batch_size=config.batch_size,
        device=config.device,
        max_retries=config.max_retries,
    )
    started = time.perf_counter()
    store.set_run_status(run_id, "running")
    try:
        executions = run_request_groups(groups, model, store, progress=config.progress, close_backend=owned)
    except KeyboardInterrupt:
        store.set_run_status(run_id, "interrupted")
        raise

    records: list[dict[str, Any]] = []
    rows: list[RunItemRow] = []
    for index, item in enumerate(items):  # all samples of a prompt together
        for sample, (group, execution) in enumerate(zip(groups, executions, strict=True)):
            request_hash = execution.hashes[index]
            record = reply_record(
                item, sample, group.settings, group.requests[index], execution.responses[index], request_hash
            )
            records.append(record)
            rows.append(
                RunItemRow(
                    item_key=f"{item.id}#{sample}",
                    request_hash=request_hash,
                    parsed={"sample": sample, "refusal": record["refusal"], "rule": record["refusal_rule"]},
                )
            )
    store.save_run_items(run_id, rows)
    first_error = next((r["error"] for r in records if r["error"]), None)
    results = assemble_results(
        run_id=run_id,
        config=config,
        records=records,
        execution=execution_summary(executions, started, first_error),
        seeds=[group.settings.seed for group in groups],
    )
    write_jsonl(config.out_dir / "samples.jsonl", records)  # results.json last: it marks a complete run
    write_json(config.out_dir / "results.json", results)
    store.set_run_status(run_id, "failed" if results["execution"]["n_failed"] else "finished")
    return results


def _model_spec(spec: ModelSpec) -> dict[str, Any]:
    return {"spec": f"{spec.provider}:{spec.name}", "base_url": spec.base_url, "dtype": spec.dtype}


def assemble_results(
    *,
    run_id: str,
    config: GenerateRunConfig,
    records: list[dict[str, Any]],
    execution: dict[str, Any],
    seeds: list[int | None],
) -> dict[str, Any]:
    n_items = len(records) // max(1, config.n_samples)
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "cvalues_version": __version__,
        "run_id": run_id,
        "task": TASK,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            **_model_spec(config.spec),
            "settings": config.settings.to_dict(),
            "samples": config.n_samples,
            "sample_seeds": seeds,
        },
        "dataset": {
            "name": config.dataset.name,
            "source": config.dataset.source,
            "sha256": config.dataset.sha256,
            "format": config.dataset.format,
            "n_items": n_items,
            "n_items_in_dataset": config.dataset.n_items,
            "limit": config.limit,
        },
        **compute_generate_metrics(records),
        "refusal_classifier": "rules (cvalues.scoring.refusal.classify_refusal)",
        "execution": execution,
    }


__all__ = ["GenerateRunConfig", "assemble_results", "run_generate"]
