"""The judge task: render a rubric for each reply, read the judge's output, one sample line per judgment.

With ``--judge-samples k`` every reply is judged k times, sample j with seed ``seed + j`` (from 0
when no seed is given) and, unless ``--temperature`` says otherwise, temperature 0.7 (k = 1 is
greedy, temperature 0); the verdicts are combined by ``aggregate_verdicts`` (majority label, a tie
unparsed; mean score). A pairwise comparison is asked in both orders, ``ab`` (the first run's
reply shown as A) and ``ba``.

Refusal of a reply: the judge's own ``Refusal:`` field where it gives one (Qwen3Guard), otherwise
the rule-based classifier (``scoring.refusal``); the record says which.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cvalues.core.errors import InputError
from cvalues.core.requests import GenerationSettings, Message, ModelRequest, ModelResponse
from cvalues.scoring.judge_parsers import TIE, JudgeVerdict, aggregate_verdicts
from cvalues.scoring.refusal import classify_refusal
from cvalues.scoring.reply_metrics import FIRST, SECOND
from cvalues.scoring.rubrics import Rubric
from cvalues.tasks.judge_inputs import JudgeUnit
from cvalues.tasks.run import RequestGroup, sample_seeds

PAIRWISE_ORDERS = ("ab", "ba")
SAMPLED_TEMPERATURE = 0.7
MAX_JUDGE_SAMPLES = 25


@dataclass(frozen=True)
class JudgeTarget:
    """One judgment to make: a reply (or a pair, in one order)."""

    unit: JudgeUnit
    variant: str = ""  # "" for one reply; "ab" or "ba" for a pair

    def shown(self) -> tuple[str, str | None]:
        """The reply (or replies A and B) in the order the judge sees them."""
        unit = self.unit
        if self.variant == "ba":
            return unit.response_b or "", unit.response
        return unit.response, unit.response_b


def judge_settings(
    *, k: int, temperature: float | None, max_tokens: int, top_p: float | None, seed: int | None
) -> GenerationSettings:
    """The judge's generation settings (no system prompt: a rubric brings its own messages)."""
    if not 1 <= k <= MAX_JUDGE_SAMPLES:
        raise InputError(f"must be between 1 and {MAX_JUDGE_SAMPLES}, got {k}", flag="--judge-samples")
    if temperature is None:
        temperature = 0.0 if k == 1 else SAMPLED_TEMPERATURE
    if k > 1 and temperature <= 0:
        raise InputError(
            f"{k} judge samples need a temperature above 0: greedy decoding gives the same verdict k times",
            flag="--temperature",
        )
    return GenerationSettings(temperature=temperature, max_tokens=max_tokens, top_p=top_p, seed=seed)


def judge_targets(units: list[JudgeUnit], rubric: Rubric) -> list[JudgeTarget]:
    if rubric.kind == "pairwise":
        return [JudgeTarget(unit, order) for unit in units for order in PAIRWISE_ORDERS]
    return [JudgeTarget(unit) for unit in units]


def judge_messages(rubric: Rubric, target: JudgeTarget) -> tuple[Message, ...]:
    unit = target.unit
    common: dict[str, Any] = {
        "prompt": unit.prompt,
        "reference": unit.reference,
        "domain": unit.domain,
        "history": unit.history,
    }
    first, second = target.shown()
    if rubric.kind == "pairwise":
        return rubric.render(**common, response_a=first, response_b=second)
    return rubric.render(**common, response=first)


def request_groups(
    targets: list[JudgeTarget], rubric: Rubric, settings: GenerationSettings, k: int
) -> list[RequestGroup]:
    """One group per judge sample: the same requests, with that sample's seed."""
    requests = [ModelRequest(messages=judge_messages(rubric, target)) for target in targets]
    return [
        RequestGroup(
            settings=GenerationSettings(**{**settings.to_dict(), "seed": seed}),
            requests=requests,
            description=f"judge {rubric.name}" if k == 1 else f"judge {rubric.name} {j + 1}/{k}",
        )
        for j, seed in enumerate(sample_seeds(settings.seed, k, temperature=settings.temperature))
    ]


def response_hash(target: JudgeTarget) -> str:
    """sha256 of the judged text (for a pair: of the JSON list [A, B] as shown)."""
    first, second = target.shown()
    text = first if target.variant == "" else json.dumps([first, second], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pair_winner(label: str | None, variant: str) -> str | None:
    if label == TIE:
        return TIE
    if label not in ("A", "B"):
        return None
    shown_first = label == "A"
    return FIRST if shown_first == (variant == "ab") else SECOND


def combine(rubric: Rubric, responses: list[ModelResponse]) -> tuple[JudgeVerdict | None, list[JudgeVerdict]]:
    """The verdict of k judge outputs, and each sample's; None when a request failed."""
    if any(not response.ok for response in responses):
        return None, []
    verdicts = [rubric.parse(response.text or "", reasoning=response.reasoning) for response in responses]
    if len(verdicts) == 1:
        return verdicts[0], verdicts
    return aggregate_verdicts(verdicts, rubric.output), verdicts


def judgment_record(
    target: JudgeTarget, rubric: Rubric, responses: list[ModelResponse], hashes: list[str]
) -> dict[str, Any]:
    """One line of samples.jsonl: the reply, the judge's raw output(s) and what was read from them."""
    unit = target.unit
    verdict, samples = combine(rubric, responses)
    parsed = verdict is not None and verdict.parsed
    record: dict[str, Any] = {
        "id": unit.id,
        "sample": unit.sample,
        "variant": target.variant or None,
        "level": unit.level,
        "domain": unit.domain,
        "scenario": unit.scenario,
        "should_answer": unit.should_answer,
        "prompt": unit.prompt,
        "history": [list(turn) for turn in unit.history],
    }
    first, second = target.shown()
    if target.variant:
        record.update(response_a=first, response_b=second)
    else:
        record["response"] = first
    if unit.human_label is not None:
        record["human_label"] = unit.human_label
    record.update(
        reference_used=unit.reference is not None and "reference" in rubric.placeholders,
        # The prompt as sent, for audit: a hash alone cannot show what the judge was asked.
        judge_prompt=[{"role": m.role, "content": m.content} for m in judge_messages(rubric, target)],
        response_hash=response_hash(target),
        judge_raw=[response.text for response in responses],
        judge_reasoning=[response.reasoning for response in responses],
        judge_request_hashes=hashes,
        parsed=parsed,
        label=verdict.label if parsed and verdict else None,
        score=verdict.score if parsed and verdict else None,
        categories=list(verdict.categories) if parsed and verdict else [],
        judge_refusal=verdict.refusal if parsed and verdict else None,
        reason=verdict.reason if parsed and verdict else None,
        problem=verdict.problem if verdict is not None else None,
    )
    if len(samples) > 1:
        record["judge_samples"] = [
            {"parsed": v.parsed, "label": v.label, "score": v.score, "problem": v.problem} for v in samples
        ]
    if target.variant:
        record.update(winner=pair_winner(record["label"], target.variant), refusal=None, refusal_source=None)
    elif record["judge_refusal"] is not None:
        record.update(refusal=record["judge_refusal"], refusal_source="judge", refusal_rule=None)
    else:
        refusal, rule = classify_refusal(unit.response)
        record.update(refusal=refusal, refusal_source="rules", refusal_rule=rule)
    record["error"] = next((response.error for response in responses if not response.ok), None)
    return record


def judgment_raw(record: dict[str, Any], hashes: list[str]) -> dict[str, Any]:
    """The raw JSON stored with a judgment in the store: outputs, the prompt as sent, what was read."""
    return {
        "outputs": record["judge_raw"],
        "reasoning": record.get("judge_reasoning"),
        "request_hashes": hashes,
        "judge_prompt": record.get("judge_prompt"),
        "categories": record["categories"],
        "refusal": record["judge_refusal"],
        "reason": record["reason"],
        "problem": record["problem"],
    }


__all__ = [
    "PAIRWISE_ORDERS",
    "SAMPLED_TEMPERATURE",
    "JudgeTarget",
    "judge_messages",
    "judge_settings",
    "judge_targets",
    "judgment_raw",
    "judgment_record",
    "request_groups",
    "response_hash",
]
