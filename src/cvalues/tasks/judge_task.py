"""Judging as a Task on the run core: replies -> rubric -> judge model -> parsed verdicts -> metrics.

Judge requests go through the executor like any other, so they are cached by request hash:
judging the same replies again with the same judge, rubric and settings sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.requests import GenerationSettings
from cvalues.scoring.judge_parsers import SCORE_KINDS
from cvalues.scoring.reply_metrics import compute_judge_metrics
from cvalues.scoring.rubrics import Rubric
from cvalues.store import JudgmentRow
from cvalues.tasks.judge import JudgeTarget, judge_targets, judgment_raw, judgment_record, request_groups
from cvalues.tasks.judge_inputs import JudgeInput, JudgeUnit
from cvalues.tasks.run import DatasetRecord, RequestGroup, RunContext, Scored, model_block

REFUSAL_METHOD = (
    "the judge's Refusal field where it gives one (Qwen3Guard), else rules "
    "(cvalues.scoring.refusal.classify_refusal); refusal_source in samples.jsonl says which"
)


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


@dataclass
class JudgeTask:
    judge: ModelSpec
    rubric: Rubric
    source: JudgeInput
    settings: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_tokens=512))
    judge_samples: int = 1
    limit: int | None = None
    name: str = "judge"

    @property
    def score_range(self) -> tuple[int, int]:
        options = self.rubric.output_options
        return int(options.get("minimum", 1)), int(options.get("maximum", 10))

    def units(self) -> list[JudgeUnit]:
        return self.source.units[: self.limit] if self.limit else list(self.source.units)

    def targets(self) -> list[JudgeTarget]:
        return judge_targets(self.units(), self.rubric)

    def model(self) -> ModelSpec:
        return self.judge

    def dataset_record(self) -> DatasetRecord | None:
        """A responses file is recorded as a dataset; a generate run's replies are found through that run."""
        if not self.source.items:
            return None
        info = self.source.dataset
        return DatasetRecord(
            info["name"], info["source"], info["sha256"], len(self.source.items), self.source.items
        )

    def item_keys(self) -> Sequence[str]:
        return [f"{t.unit.id}#{t.unit.sample}{t.variant}" for t in self.targets()]

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

    def request_groups(self) -> list[RequestGroup]:
        return request_groups(self.targets(), self.rubric, self.settings, self.judge_samples)

    def score(self, run: RunContext) -> Scored:
        records: list[dict[str, Any]] = []
        rows: list[JudgmentRow] = []
        groups = self.request_groups()
        for index, target in enumerate(self.targets()):
            responses = [execution.responses[index] for execution in run.executions]
            hashes = [execution.hashes[index] for execution in run.executions]
            record = judgment_record(target, self.rubric, responses, hashes)
            records.append(record)
            if record["error"] is None:  # a failed request is no judgment; the next run retries it
                rows.append(self._judgment_row(record, hashes))
        rubric = self.rubric
        score_range = self.score_range if rubric.output in SCORE_KINDS else (1, 10)
        units = self.units()
        body = {
            # The model whose replies were judged (the contract's `model`); the judge is under `judge`.
            "model": self.source.generator,
            "generator": self.source.generator,
            "judge": {
                **model_block(self.judge),
                "settings": self.settings.to_dict(),
                "judge_samples": self.judge_samples,
                "sample_seeds": [group.settings.seed for group in groups],
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
                **self.source.source,
                "n_replies": len(units),
                "n_replies_available": len(self.source.units),
                "n_without_reply": self.source.n_without_reply,
                "limit": self.limit,
            },
            "dataset": self.source.dataset,
            **compute_judge_metrics(records, output_kind=rubric.output, score_range=score_range),
            "refusal_method": REFUSAL_METHOD,
        }
        return Scored(records, body, lambda store, run_id: store.save_judgments(run_id, rows))

    def _judgment_row(self, record: dict[str, Any], hashes: list[str]) -> JudgmentRow:
        return JudgmentRow(
            item_key=record["id"],
            sample_index=record["sample"],
            variant=record["variant"] or "",
            response_hash=record["response_hash"],
            judge_key=self.judge.key,
            rubric=self.rubric.name,
            rubric_version=self.rubric.version,
            request_hash=hashes[0],
            raw=judgment_raw(record, hashes),
            label=record["label"],
            score=record["score"],
            parsed=record["parsed"],
        )


__all__ = ["REFUSAL_METHOD", "JudgeTask", "input_identity"]
