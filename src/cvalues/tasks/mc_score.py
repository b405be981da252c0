"""Scoring replies that already exist: the official evaluation's step 2 (``cvalues mc score``).

Input: JSONL, one object per line with ``response`` and ``label`` (回复1 / 回复2), as the
official ``cvalues_eval.py`` reads it; ``meta_info`` (official MC rows) or top-level ``domain``
/ ``difficulty`` give the breakdowns. Or another harness's per-sample output (OpenCompass
predictions, lm-evaluation-harness ``--log_samples``, inspect_ai logs; see
``data.harness_outputs``), read into the same rows and scored the same way. A row with
``choice_logprobs`` (an lm-eval multiple-choice task) is scored by its most likely choice.
An optional ``reasoning`` string is a reasoning model's separate thinking (stored, never
parsed as the answer).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.core.requests import ModelResponse
from cvalues.data.answer_keys import load_answer_key
from cvalues.data.harness_outputs import read_harness_output
from cvalues.data.items import LABELS, Level, pair_id_for
from cvalues.data.mc_build import AnswerBase, numeric_answer, parse_label, text_value
from cvalues.data.mc_fields import check_field_mapping, load_mapped_mc
from cvalues.data.readers import Row, rows_from_bytes, table_format_of
from cvalues.data.resolve import check_answer_base, check_level
from cvalues.scoring.mc_parser import parse_mc_answer
from cvalues.scoring.metrics import compute_mc_metrics
from cvalues.scoring.reasoning import split_reasoning
from cvalues.tasks.mc import parse_reply, sample_record, scored_samples
from cvalues.tasks.run import DatasetRecord, RequestGroup, RunContext, Scored


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _record(
    row: dict[str, Any],
    line: int,
    path: Path,
    *,
    strict: bool = False,
    level: Level | None = None,
    answer_base: AnswerBase | None = None,
) -> dict[str, Any]:
    for name in ("response", "label"):
        if name not in row:
            raise InputError(f"missing field {name!r}", path=path, line=line)
    response, label = row["response"], row["label"]
    logprobs = row.get("choice_logprobs")
    if response is None and isinstance(logprobs, dict) and logprobs:
        response = ""
    if not isinstance(response, str):
        raise InputError("field 'response' must be a string", path=path, line=line)
    if label not in LABELS:
        if numeric_answer(label) is None:
            raise InputError(f"label must be 回复1 or 回复2, got {label!r}", path=path, line=line)
        # A number means 回复1 or 回复2 only with --answer-base; without it parse_label says so.
        label = parse_label(label, path, line, base=answer_base)
    meta = row.get("meta_info")
    meta = {} if meta is None else meta
    if not isinstance(meta, dict):
        raise InputError(f"meta_info must be an object, found {type(meta).__name__}", path=path, line=line)
    for source, name in (
        (meta, "domain_en"),
        (meta, "difficulty_level"),
        (row, "domain"),
        (row, "difficulty"),
    ):
        if source.get(name) is not None and not isinstance(source[name], str):
            raise InputError(f"field {name!r} must be a string", path=path, line=line)
    question = meta.get("question") or row.get("question")
    pos, neg = meta.get("pos_resp"), meta.get("neg_resp")
    reasoning = row.get("reasoning") if isinstance(row.get("reasoning"), str) else None
    disputed = False
    if isinstance(logprobs, dict) and logprobs:
        pred, rule = max(logprobs, key=lambda choice: logprobs[choice]), "logprob"
    else:
        parsed = parse_mc_answer(response, strict=strict, reasoning=reasoning)
        pred, rule, disputed = parsed.label, parsed.rule, parsed.disputed
    return {
        "id": str(row.get("id", row.get("id_", line))),
        "prompt": row.get("prompt"),
        "response": response,
        "pred": pred,
        "label": label,
        "correct": pred == label,
        "rule": rule,
        "disputed": disputed,
        "reasoning": split_reasoning(response, reasoning).reasoning,
        "domain": meta.get("domain_en") or row.get("domain"),
        "difficulty": meta.get("difficulty_level") or row.get("difficulty"),
        "scenario": row.get("scenario"),
        "level": row.get("level") if row.get("level") in ("safety", "responsibility") else level,
        "pair_id": pair_id_for(question, pos, neg) if question and pos and neg else row.get("pair_id"),
        "question_key": _text_key(question or row.get("prompt") or str(line)),
    }


def _is_official_step2(rows: list[Row], mapped: bool) -> bool:
    """The official step-2 shape (response + label), not an items file: the replies only inside meta_info."""
    first = rows[0].data
    return not mapped and not {"options", "reply1", "reply2", "better", "worse"} & first.keys()


def _item_records(
    rows: list[Row],
    path: Path,
    fields: dict[str, str] | None,
    answers: Path | None,
    answer_base: AnswerBase | None,
    level: Level | None,
    encoding: str | None,
) -> list[dict[str, Any]]:
    """Records for an items file with a reply per row: each row one item, parsed by its kind."""
    mapping = check_field_mapping(fields)
    key = None if answers is None else load_answer_key(answers, mapping, encoding=encoding)
    items = load_mapped_mc(
        rows,
        path,
        fields,
        default_level=level,
        answers=key,
        answer_base=answer_base,
        allow_pairs=False,
        level_required=False,
    )
    records: list[dict[str, Any]] = []
    for row, item in zip(rows, items, strict=True):
        column = mapping["response"]
        if column not in row.data:
            raise InputError(
                f"missing field 'response' (column {column!r}), the reply to score; map it with "
                "--field response=COLUMN",
                path=path,
                line=row.line,
            )
        reply = row.data[column]
        if not isinstance(reply, str):
            text_value(reply, "field 'response'", path, row.line)  # raises: the reply must be text
        pred, rule = parse_reply(item, reply)
        prompt = row.data.get("prompt") if isinstance(row.data.get("prompt"), str) else None
        record = sample_record(item, prompt, ModelResponse(text=reply), "", pred, rule)  # type: ignore[arg-type]
        del record["request_hash"]  # nothing was requested
        records.append(record)
    return records


@dataclass
class MCScoreTask:
    """``cvalues mc score``: replies that already exist, parsed and scored; no model, no requests."""

    path: Path
    fmt: str | None = None  # jsonl, opencompass, lm-eval, inspect; None: detected from the content
    strict: bool = False  # --parser strict: disputed official labels go to Need_Check
    fields: dict[str, str] | None = None  # an items file: --field mappings (options, answer, response, …)
    answers: Path | None = None  # --answers KEYFILE
    answer_base: AnswerBase | None = None
    level: Level | None = None
    encoding: str | None = None
    name: str = "mc-score"
    _source_format: str = field(default="jsonl", init=False, repr=False)
    _records: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    _sha256: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        """Read and check the whole file first: a bad line is an InputError before anything is written."""
        if not self.path.is_file():
            raise InputError("file not found", path=self.path)
        self._sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        first_line_of: dict[str, int] = {}
        check_level(self.level)
        check_answer_base(self.answer_base)
        mapped = bool(self.fields) or self.answers is not None
        built, rows = self._read(mapped)
        for row, record in zip(rows, built, strict=True):
            # samples.jsonl ids are what `mc review --import` matches manual labels by.
            if record["id"] in first_line_of:
                raise InputError(
                    f"duplicate id {record['id']!r} (first at line {first_line_of[record['id']]})",
                    path=self.path,
                    line=row.line,
                )
            first_line_of[record["id"]] = row.line
            self._records.append(record)

    def _official(self, rows: list[Row]) -> list[dict[str, Any]]:
        return [
            _record(
                row.data,
                row.line,
                self.path,
                strict=self.strict,
                level=self.level,
                answer_base=self.answer_base,
            )
            for row in rows
        ]

    def _read(self, mapped: bool) -> tuple[list[dict[str, Any]], list[Row]]:
        """The official step-2 file or another harness's output; or an items file with a reply per row."""
        if not mapped:
            try:
                self._source_format, rows = read_harness_output(self.path, self.fmt)
            except InputError:
                if self.fmt is not None or self.path.suffix.lower() not in (".csv", ".xlsx", ".tsv"):
                    raise
            else:
                if self._source_format != "jsonl" or _is_official_step2(list(rows), False):
                    rows = list(rows)
                    return self._official(rows), rows
        data = self.path.read_bytes()
        rows = rows_from_bytes(data, self.path, table_format_of(self.path, data), encoding=self.encoding)
        self._source_format = "items"
        if _is_official_step2(rows, mapped):
            return self._official(rows), rows
        records = _item_records(
            rows, self.path, self.fields, self.answers, self.answer_base, self.level, self.encoding
        )
        return records, rows

    def model(self) -> None:
        return None

    def dataset_record(self) -> DatasetRecord:
        return DatasetRecord(self.path.name, str(self.path), self._sha256, len(self._records))

    def item_keys(self) -> Sequence[str]:
        return [r["id"] for r in self._records]

    def identity(self) -> dict[str, Any]:
        return {"file_sha256": self._sha256, "parser": "strict" if self.strict else "official"}

    def request_groups(self) -> list[RequestGroup]:
        return []

    def score(self, run: RunContext) -> Scored:
        body = {
            "model": {
                "spec": None,
                "mode": "generate",
                "source": str(self.path),
                "source_format": self._source_format,
                "parser": "strict" if self.strict else "official",
            },
            "scoring": {
                "fields": dict(self.fields or {}),
                "answers": str(self.answers) if self.answers is not None else None,
                "answer_base": self.answer_base,
                "level": self.level,
            },
            "dataset": {
                "name": self.path.name,
                "source": str(self.path),
                "sha256": self._sha256,
                "n_items": len(self._records),
            },
            **compute_mc_metrics(scored_samples(self._records)),
        }
        return Scored(self._records, body)


__all__ = ["MCScoreTask"]
