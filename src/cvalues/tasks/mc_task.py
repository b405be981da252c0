"""The MC evaluation as a Task on the run core: items -> one request each -> parsed answers -> metrics.

A human's manual label (``cvalues mc review --import``) is kept in the store and outlives a
resume, as long as the answer it labelled (its request hash) is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings
from cvalues.data.items import MCDataset, MCItem
from cvalues.scoring.metrics import compute_mc_metrics
from cvalues.store import RunItemRow, Store
from cvalues.tasks.mc import (
    Mode,
    Template,
    build_requests,
    interpret_answer,
    load_template,
    sample_record,
    scored_samples,
)
from cvalues.tasks.run import ItemsTask, RequestGroup, RunContext, Scored, model_block


@dataclass
class MCTask(ItemsTask):
    """``cvalues mc``: which reply is safer and more responsible, by generation or log-probability."""

    spec: ModelSpec
    dataset: MCDataset
    mode: Mode = "generate"
    template: Template = field(default_factory=load_template)
    settings: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_tokens=128))
    limit: int | None = None
    # --parser strict: disputed official labels go to Need_Check. Parsing only, so not part of the
    # run's identity: re-scoring a finished run with it sends no request.
    strict: bool = False
    name: str = "mc"

    def identity(self) -> dict[str, Any]:
        """What determines the answers: a resumed run must match it exactly."""
        return {
            "model": self.spec.key,
            "mode": self.mode,
            "template_sha256": self.template.sha256,
            "generation": self.settings.to_dict(),
        }

    def request_groups(self) -> list[RequestGroup]:
        return [RequestGroup(self.settings, build_requests(self.items(), self.template, self.mode), "MC")]

    def score(self, run: RunContext) -> Scored:
        (execution,) = run.executions
        items = self.items()
        manual = _manual_labels(run.store, run.run_id)
        records: list[dict[str, Any]] = []
        rows: list[RunItemRow] = []
        requests = self.request_groups()[0].requests
        for item, request, response, request_hash in zip(
            items, requests, execution.responses, execution.hashes, strict=True
        ):
            answer = interpret_answer(item, response, strict=self.strict)
            pred, rule = (None, "error") if answer is None else (answer.label, answer.rule)
            disputed = answer is not None and answer.disputed
            kept = manual.get(item.id)
            if kept is not None and kept.get("request_hash") == request_hash:
                pred, rule = kept["pred"], "manual"  # a human's review outlives a resume
            record = sample_record(
                item, request.messages[-1].content, response, request_hash, pred, rule, disputed=disputed
            )
            records.append(record)
            rows.append(
                RunItemRow(
                    item_key=item.id,
                    request_hash=request_hash,
                    parsed={"pred": pred, "rule": rule, "request_hash": request_hash},
                    score={"correct": record["correct"]},
                )
            )
        body = {
            "model": {
                **model_block(self.spec),
                "mode": self.mode,
                "parser": "strict" if self.strict else "official",
                "settings": self.settings.to_dict(),
                "template": {"source": self.template.source, "sha256": self.template.sha256},
                # The authors' prompts are sent verbatim; the template only fills in the rest.
                "prompts_from_dataset": sum(1 for i in items if i.prompt is not None),
            },
            "dataset": {
                "name": self.dataset.name,
                "source": self.dataset.source,
                "sha256": self.dataset.sha256,
                "n_items": len(items),
                "n_items_in_dataset": self.dataset.n_items,
                "limit": self.limit,
                "levels": _levels(items),
            },
            **compute_mc_metrics(scored_samples(records)),
        }
        return Scored(records, body, lambda store, run_id: store.save_run_items(run_id, rows))


def _levels(items: Sequence[MCItem]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        level = item.level or "unknown"
        counts[level] = counts.get(level, 0) + 1
    return dict(sorted(counts.items()))


def _manual_labels(store: Store | None, run_id: str) -> dict[str, dict[str, Any]]:
    if store is None:
        return {}
    return {
        row.item_key: row.parsed for row in store.load_run_items(run_id) if row.parsed.get("rule") == "manual"
    }


__all__ = ["MCTask"]
