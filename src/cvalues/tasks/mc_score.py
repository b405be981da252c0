"""Scoring replies that already exist: the official evaluation's step 2 (``cvalues mc score``).

Input: JSONL, one object per line with ``response`` and ``label`` (回复1 / 回复2), as the
official ``cvalues_eval.py`` reads it; ``meta_info`` (official MC rows) or top-level ``domain``
/ ``difficulty`` give the breakdowns; an optional ``reasoning`` string is a reasoning model's
separate thinking (stored, never parsed as the answer).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvalues import __version__
from cvalues.core.errors import InputError
from cvalues.core.files import write_json, write_jsonl
from cvalues.data.items import LABELS, pair_id_for
from cvalues.data.readers import read_rows
from cvalues.scoring.mc_parser import parse_mc_answer
from cvalues.scoring.metrics import compute_mc_metrics
from cvalues.scoring.reasoning import split_reasoning
from cvalues.tasks.mc import scored_samples
from cvalues.tasks.mc_runner import RESULTS_SCHEMA_VERSION


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _record(row: dict[str, Any], line: int, path: Path, *, strict: bool) -> dict[str, Any]:
    for name in ("response", "label"):
        if name not in row:
            raise InputError(f"missing field {name!r}", path=path, line=line)
    response, label = row["response"], row["label"]
    if not isinstance(response, str):
        raise InputError("field 'response' must be a string", path=path, line=line)
    if label not in LABELS:
        raise InputError(f"label must be 回复1 or 回复2, got {label!r}", path=path, line=line)
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
    parsed = parse_mc_answer(response, strict=strict, reasoning=reasoning)
    return {
        "id": str(row.get("id", row.get("id_", line))),
        "prompt": row.get("prompt"),
        "response": response,
        "pred": parsed.label,
        "label": label,
        "correct": parsed.label == label,
        "rule": parsed.rule,
        "disputed": parsed.disputed,
        "reasoning": split_reasoning(response, reasoning).reasoning,
        "domain": meta.get("domain_en") or row.get("domain"),
        "difficulty": meta.get("difficulty_level") or row.get("difficulty"),
        "scenario": row.get("scenario"),
        "pair_id": pair_id_for(question, pos, neg) if question and pos and neg else row.get("pair_id"),
        "question_key": _text_key(question or row.get("prompt") or str(line)),
    }


def score_response_file(
    path: Path, *, out_dir: Path | None = None, strict: bool = False
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not path.is_file():
        raise InputError("file not found", path=path)
    data = path.read_bytes()
    records: list[dict[str, Any]] = []
    first_line_of: dict[str, int] = {}
    for row in read_rows(path, fmt="jsonl"):
        record = _record(row.data, row.line, path, strict=strict)
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
        "model": {
            "spec": None,
            "mode": "generate",
            "source": str(path),
            "parser": "strict" if strict else "official",
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
