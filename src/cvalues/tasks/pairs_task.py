"""Scoring preference pairs as a Task on the run core: which of two replies does a scorer prefer?

Scorers (``--scorer``):
- ``logprob:SPEC``: the policy model's log-probability of each reply given the prompt (one
  ``choices`` request scores both replies exactly), read as a total and per token;
- ``judge:SPEC``: an LLM judge with the ``pairwise`` rubric (or another pairwise rubric), asked in
  both orders; the pair's outcome is the two orders' common verdict, and two verdicts that
  disagree count as a tie (the judge did not prefer either reply whatever the order);
- ``hf-rm:DIR``: a reward model (transformers sequence classification, one scalar), scoring each
  (prompt, reply) on its own.

The task is chunked (``ChunkedTask``): pairs are read from the file ``CHUNK_PAIRS`` at a time, asked,
written to samples.jsonl and tallied, so 145k pairs take the memory of one chunk plus a few bytes a
pair for the prompt-clustered intervals (``PairMetricsTally``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse
from cvalues.data.items import PairItem
from cvalues.data.pairs import pair_type
from cvalues.execute.executor import ExecutionResult
from cvalues.scoring.pair_metrics import CORRECT, TIE, WRONG, PairMetricsTally, outcome
from cvalues.scoring.reply_metrics import FIRST, SECOND
from cvalues.scoring.reply_metrics import TIE as JUDGE_TIE
from cvalues.scoring.rubrics import Rubric
from cvalues.tasks.judge import JudgeTarget, combine, judge_messages, pair_winner
from cvalues.tasks.judge_inputs import JudgeUnit
from cvalues.tasks.run import DatasetRecord, RequestGroup, RunContext, Scored, TaskChunk, model_block

SCORERS = ("logprob", "judge", "hf-rm")
_WINNER_OUTCOME = {FIRST: CORRECT, SECOND: WRONG, JUDGE_TIE: TIE}
# Pairs asked at a time: answers of one chunk are held, never the run's (2,000 requests at most).
CHUNK_PAIRS = 1000


def parse_scorer(value: str) -> tuple[str, str]:
    """``logprob:gguf:smollm2`` -> ("logprob", "gguf:smollm2"); ``hf-rm:DIR`` -> ("hf-rm", "hf-rm:DIR")."""
    kind, sep, rest = value.partition(":")
    if not sep or not rest or kind not in SCORERS:
        raise InputError(
            f"must be logprob:<model spec>, judge:<model spec> or hf-rm:<model dir>, got {value!r}",
            flag="--scorer",
        )
    return kind, (value if kind == "hf-rm" else rest)


def _prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


class Pairs(Protocol):
    """Pairs to score, streamed (``data.pairs.PairFile``) or held (``PairDataset``)."""

    name: str
    source: str
    sha256: str

    @property
    def n_items(self) -> int: ...

    def iter_items(self) -> Iterator[PairItem]: ...


@dataclass
class PairsTask:
    """Pairwise accuracy of a scorer; ``limit`` is recorded (the dataset applies it when read)."""

    spec: ModelSpec
    dataset: Pairs
    scorer: str = "logprob"
    rubric: Rubric | None = None
    settings: GenerationSettings = field(default_factory=lambda: GenerationSettings(max_tokens=256))
    limit: int | None = None
    name: str = "pairs"
    chunk_pairs: int = CHUNK_PAIRS
    _tally: PairMetricsTally | None = field(default=None, init=False, repr=False)
    _n_scored: int = field(default=0, init=False, repr=False)

    def model(self) -> ModelSpec:
        return self.spec

    def dataset_record(self) -> DatasetRecord:
        d = self.dataset
        return DatasetRecord(d.name, d.source, d.sha256, d.n_items)  # items: saved chunk by chunk

    def item_keys(self) -> Iterator[str]:
        return (pair.id for pair in self.dataset.iter_items())

    def identity(self) -> dict[str, Any]:
        identity: dict[str, Any] = {
            "scorer": self.scorer,
            "model": self.spec.key,
            "generation": self.settings.to_dict(),
        }
        if self.rubric is not None:
            identity["rubric"] = {
                "name": self.rubric.name,
                "version": self.rubric.version,
                "sha256": self.rubric.sha256,
            }
        return identity

    def _targets(self, pair: PairItem) -> list[JudgeTarget]:
        unit = JudgeUnit(id=pair.id, sample=0, prompt=pair.prompt, response=pair.pos, response_b=pair.neg)
        return [JudgeTarget(unit, "ab"), JudgeTarget(unit, "ba")]

    def _requests(self, pair: PairItem) -> list[ModelRequest]:
        user = Message("user", pair.prompt)
        if self.scorer == "logprob":
            return [ModelRequest(messages=(user,), kind="choices", choices=(pair.pos, pair.neg))]
        if self.scorer == "hf-rm":
            return [
                ModelRequest(messages=(user, Message("assistant", reply)), kind="reward")
                for reply in (pair.pos, pair.neg)
            ]
        assert self.rubric is not None
        return [ModelRequest(messages=judge_messages(self.rubric, target)) for target in self._targets(pair)]

    def request_groups(self) -> list[RequestGroup]:
        return []  # chunked: see ``chunks``

    def chunks(self) -> Iterator[TaskChunk]:
        extra = ["outcome_normalised"] if self.scorer == "logprob" else []
        self._tally, self._n_scored = PairMetricsTally(extra_outcomes=extra), 0
        pairs: list[PairItem] = []
        for pair in self.dataset.iter_items():
            pairs.append(pair)
            if len(pairs) == self.chunk_pairs:
                yield self._chunk(pairs)
                pairs = []
        if pairs:
            yield self._chunk(pairs)

    def _chunk(self, pairs: list[PairItem]) -> TaskChunk:
        requests = [request for pair in pairs for request in self._requests(pair)]
        return TaskChunk(pairs, [RequestGroup(self.settings, requests, f"pairs {self.scorer}")])

    def score_chunk(self, chunk: TaskChunk, executions: list[ExecutionResult]) -> list[dict[str, Any]]:
        assert self._tally is not None, "chunks() first"
        (execution,) = executions
        per_pair = {"logprob": 1, "hf-rm": 2, "judge": 2}[self.scorer]
        records = []
        for index, pair in enumerate(chunk.items):
            at = slice(index * per_pair, (index + 1) * per_pair)
            record = self._record(pair, execution.responses[at], execution.hashes[at])
            self._tally.add(record)
            records.append(record)
        self._n_scored += len(records)
        return records

    def score(self, run: RunContext) -> Scored:
        assert self._tally is not None, "chunks() first"
        body = {
            "model": {**model_block(self.spec), "scorer": self.scorer, "settings": self.settings.to_dict()},
            "rubric": None
            if self.rubric is None
            else {"name": self.rubric.name, "version": self.rubric.version, "sha256": self.rubric.sha256},
            "dataset": {
                "name": self.dataset.name,
                "source": self.dataset.source,
                "sha256": self.dataset.sha256,
                "n_items": self._n_scored,
                "n_items_in_dataset": self.dataset.n_items,
                "limit": self.limit,
            },
            **self._tally.result(),
        }
        return Scored([], body)

    def _record(
        self, pair: PairItem, responses: Sequence[ModelResponse], hashes: Sequence[str]
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": pair.id,
            "prompt_key": _prompt_key(pair.prompt),
            "pair_type": pair_type(pair),
            "pos_type": pair.pos_type,
            "neg_type": pair.neg_type,
            "domain": pair.domain,
            "scenario": pair.scenario,
            "level": pair.level,
            "scorer": self.scorer,
            "request_hashes": list(hashes),
            "error": next((r.error for r in responses if r.error), None),
        }
        if record["error"] is not None:
            record["outcome"] = None
            if self.scorer == "logprob":
                record["outcome_normalised"] = None
            return record
        if self.scorer == "logprob":
            (response,) = responses
            scores = response.choice_logprobs or {}
            better, worse = scores.get(pair.pos), scores.get(pair.neg)
            tokens = response.extra.get("choice_tokens")
            record.update(logprob_better=better, logprob_worse=worse, tokens=tokens)
            record["outcome"] = TIE if pair.pos == pair.neg else outcome(better, worse)
            if tokens and better is not None and worse is not None and all(tokens):
                record["outcome_normalised"] = outcome(better / tokens[0], worse / tokens[1])
            else:
                record["outcome_normalised"] = None
        elif self.scorer == "hf-rm":
            better, worse = (r.extra.get("reward") for r in responses)
            record.update(reward_better=better, reward_worse=worse, outcome=outcome(better, worse))
        else:
            assert self.rubric is not None
            for target, response in zip(self._targets(pair), responses, strict=True):
                verdict, _ = combine(self.rubric, [response])
                winner = pair_winner(verdict.label if verdict and verdict.parsed else None, target.variant)
                record[f"outcome_{target.variant}"] = _WINNER_OUTCOME.get(winner) if winner else None
                record[f"judge_raw_{target.variant}"] = response.text
            ab, ba = record["outcome_ab"], record["outcome_ba"]
            record["outcome"] = (ab if ab == ba else TIE) if ab and ba else (ab or ba)
        return record


__all__ = ["SCORERS", "PairsTask", "parse_scorer"]
