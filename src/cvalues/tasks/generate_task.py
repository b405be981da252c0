"""Free-form generation as a Task on the run core: prompt set -> n samples per prompt -> refusal -> files.

Changing the model, the generation settings, the number of samples or the prompts asked about is
refused on resume unless ``new_run`` (the run core checks the identity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings
from cvalues.data.prompt_sets import PromptDataset
from cvalues.scoring.reply_metrics import compute_generate_metrics
from cvalues.store import RunItemRow
from cvalues.tasks.generate import reply_record, request_groups
from cvalues.tasks.run import ItemsTask, RequestGroup, RunContext, Scored, model_block


@dataclass
class GenerateTask(ItemsTask):
    spec: ModelSpec
    dataset: PromptDataset
    settings: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_tokens=512))
    n_samples: int = 1
    limit: int | None = None
    name: str = "generate"

    def identity(self) -> dict[str, Any]:
        """What determines the replies: a resumed run must match it exactly."""
        return {"model": self.spec.key, "generation": self.settings.to_dict(), "samples": self.n_samples}

    def request_groups(self) -> list[RequestGroup]:
        return request_groups(self.items(), self.settings, self.n_samples)

    def score(self, run: RunContext) -> Scored:
        items = self.items()
        groups = self.request_groups()
        records: list[dict[str, Any]] = []
        rows: list[RunItemRow] = []
        for index, item in enumerate(items):  # all samples of a prompt together
            for sample, (group, execution) in enumerate(zip(groups, run.executions, strict=True)):
                request_hash = execution.hashes[index]
                record = reply_record(
                    item,
                    sample,
                    group.settings,
                    group.requests[index],
                    execution.responses[index],
                    request_hash,
                )
                records.append(record)
                rows.append(
                    RunItemRow(
                        item_key=f"{item.id}#{sample}",
                        request_hash=request_hash,
                        parsed={
                            "sample": sample,
                            "refusal": record["refusal"],
                            "rule": record["refusal_rule"],
                        },
                    )
                )
        body = {
            "model": {
                **model_block(self.spec),
                "settings": self.settings.to_dict(),
                "samples": self.n_samples,
                "sample_seeds": [group.settings.seed for group in groups],
            },
            "dataset": {
                "name": self.dataset.name,
                "source": self.dataset.source,
                "sha256": self.dataset.sha256,
                "format": self.dataset.format,
                "n_items": len(items),
                "n_items_in_dataset": self.dataset.n_items,
                "limit": self.limit,
            },
            **compute_generate_metrics(records),
            "refusal_classifier": "rules (cvalues.scoring.refusal.classify_refusal)",
        }
        return Scored(records, body, lambda store, run_id: store.save_run_items(run_id, rows))


__all__ = ["GenerateTask"]
