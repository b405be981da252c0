"""Scoring replies that already exist: the official evaluation's step 2 (``cvalues mc score``).

Two inputs:

- the official step-2 file: JSONL, one object per line with ``response`` and ``label`` (回复1 /
  回复2), as the official ``cvalues_eval.py`` reads it; ``meta_info`` (official MC rows) or
  top-level ``domain`` / ``difficulty`` give the breakdowns;
- any items file (JSONL, JSON, CSV, XLSX) read as ``cvalues mc --dataset`` reads it, through
  ``--field`` (``options``, ``answer``, ``context``, ``reply1``/``reply2``/``label``, …),
  ``--answers`` and ``--answer-base``, with the reply to score in a ``response`` column
  (``--field response=COL``). Used whenever one of those options is given or the file has
  lettered options. Every row is checked before anything is written.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvalues import __version__
from cvalues.core.errors import InputError
from cvalues.core.files import write_json, write_jsonl
from cvalues.core.requests import ModelResponse
from cvalues.data.answer_keys import load_answer_key
from cvalues.data.items import LABELS, Level, pair_id_for
from cvalues.data.mc_build import AnswerBase, numeric_answer, parse_label, text_value
from cvalues.data.mc_fields import check_field_mapping, load_mapped_mc
from cvalues.data.readers import Row, rows_from_bytes, table_format_of
from cvalues.data.resolve import check_answer_base, check_level
from cvalues.scoring.mc_parser import parse_mc_answer
from cvalues.scoring.metrics import compute_mc_metrics
from cvalues.tasks.mc import parse_reply, sample_record, scored_samples
from cvalues.tasks.mc_runner import RESULTS_SCHEMA_VERSION


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _record(
    row: dict[str, Any], line: int, path: Path, level: Level | None, answer_base: AnswerBase | None
) -> dict[str, Any]:
    for name in ("response", "label"):
        if name not in row:
            raise InputError(f"missing field {name!r}", path=path, line=line)
    response, label = row["response"], row["label"]
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
    parsed = parse_mc_answer(response)
    return {
        "id": str(row.get("id", row.get("id_", line))),
        "prompt": row.get("prompt"),
        "response": response,
        "pred": parsed.label,
        "label": label,
        "correct": parsed.label == label,
        "rule": parsed.rule,
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


def score_response_file(
    path: Path,
    *,
    out_dir: Path | None = None,
    fields: dict[str, str] | None = None,
    answers: Path | None = None,
    answer_base: AnswerBase | None = None,
    level: Level | None = None,
    encoding: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Score a file of replies; write samples.jsonl and results.json to ``out_dir`` when given.

    Nothing is written unless every row is good: a numeric answer without ``answer_base`` is an
    InputError naming ``--answer-base``, before any file is touched.
    """
    if not path.is_file():
        raise InputError("file not found", path=path)
    check_level(level)
    check_answer_base(answer_base)
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    first_line_of: dict[str, int] = {}
    rows = rows_from_bytes(data, path, table_format_of(path, data), encoding=encoding)
    if _is_official_step2(rows, bool(fields) or answers is not None):
        built = [_record(row.data, row.line, path, level, answer_base) for row in rows]
    else:
        built = _item_records(rows, path, fields, answers, answer_base, level, encoding)
    for row, record in zip(rows, built, strict=True):
        # samples.jsonl ids are what `mc review --import` matches manual labels by.
        if record["id"] in first_line_of:
            raise InputError(
                f"duplicate id {record['id']!r} (first at line {first_line_of[record['id']]})",
                path=path,
                line=row.line,
            )
        first_line_of[record["id"]] = row.line
        records.append(record)
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "cvalues_version": __version__,
        "run_id": f"score-{datetime.now(UTC):%Y%m%d-%H%M%S}-{hashlib.sha256(data).hexdigest()[:6]}",
        "task": "mc-score",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"spec": None, "mode": "generate", "source": str(path)},
        "scoring": {
            "fields": dict(fields or {}),
            "answers": str(answers) if answers is not None else None,
            "answer_base": answer_base,
            "level": level,
        },
        "dataset": {
            "name": path.name,
            "source": str(path),
            "sha256": hashlib.sha256(data).hexdigest(),
            "n_items": len(records),
        },
        **compute_mc_metrics(scored_samples(records)),
    }
    if out_dir is not None:
        write_jsonl(out_dir / "samples.jsonl", records)
        write_json(out_dir / "results.json", results)
    return results, records
