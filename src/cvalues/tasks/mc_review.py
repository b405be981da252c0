"""The manual-check loop for unparsed MC answers (the official evaluation's step 3).

``export`` writes the Need_Check rows of a run to an .xlsx; a person fills ``manual_label``
with 回复1 / 回复2 / Other / Refuse; ``import`` reads it back, records the labels (in the run
directory and, when the run is in the store, there too so that a resume keeps them) and
recomputes the metrics. The true label is not in the sheet, so the reviewer is not nudged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

from cvalues.core.errors import InputError
from cvalues.core.files import read_json, write_json, write_jsonl
from cvalues.data.items import OPTION_LETTERS
from cvalues.data.readers import read_rows
from cvalues.scoring.metrics import compute_mc_metrics
from cvalues.store import RunItemRow, Store, open_store
from cvalues.tasks.mc import scored_samples

REVIEW_LABELS = ("回复1", "回复2", "Other", "Refuse")
# The reasoning (a reasoning model's thinking, never its answer) is shown last, for context; the
# columns are read back by name.
COLUMNS = ("id", "prompt", "response", "manual_label", "reasoning")
# Excel refuses cells longer than this; a longer reply is cut in the sheet only.
_XLSX_CELL_LIMIT = 32_000


def _run_files(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not (run_dir / "results.json").is_file() or not (run_dir / "samples.jsonl").is_file():
        raise InputError("not a run directory (needs results.json and samples.jsonl)", path=run_dir)
    results = read_json(run_dir / "results.json")
    if not isinstance(results, dict):
        raise InputError("expected a JSON object", path=run_dir / "results.json")
    rows = read_rows(run_dir / "samples.jsonl", fmt="jsonl")
    for row in rows:
        for name in ("id", "label", "pred"):
            if name not in row.data:
                raise InputError(f"missing field {name!r}", path=run_dir / "samples.jsonl", line=row.line)
    return results, [row.data for row in rows]


def _append_text_row(sheet: Worksheet, values: list[str | None]) -> None:
    """One row of plain text cells. Model output is untrusted: a reply starting with "=" must stay
    text, not become a live formula, and control characters that XLSX cannot hold are replaced
    (in the sheet only; samples.jsonl keeps the reply as it was)."""
    row = sheet.max_row + 1
    for column, value in enumerate(values, start=1):
        if value is None:
            continue
        cell = sheet.cell(row=row, column=column, value=ILLEGAL_CHARACTERS_RE.sub("\ufffd", value))
        cell.data_type = "s"


def export_review(run_dir: Path, xlsx: Path) -> int:
    _, records = _run_files(run_dir)
    if xlsx.suffix.lower() != ".xlsx":
        raise InputError("the review file must end in .xlsx", flag="--export")
    book = Workbook()
    sheet = book.active
    sheet.title = "review"
    sheet.append(COLUMNS)
    n = 0
    for r in records:
        if r.get("pred") == "Need_Check":
            _append_text_row(
                sheet,
                [
                    str(r["id"]),
                    (r.get("prompt") or _lettered_question(r))[:_XLSX_CELL_LIMIT],
                    (r.get("response") or "")[:_XLSX_CELL_LIMIT],
                    None,
                    (r.get("reasoning") or "")[:_XLSX_CELL_LIMIT] or None,
                ],
            )
            n += 1
    xlsx.parent.mkdir(parents=True, exist_ok=True)
    book.save(xlsx)
    return n


def _lettered_question(record: dict[str, Any]) -> str:
    """What a reviewer needs when no prompt was sent (``mc score``): the question and its lettered options."""
    options = record.get("options") or []
    lines = [record.get("context") or "", record.get("question") or ""]
    lines += [f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(options)]
    return "\n".join(line for line in lines if line)


def _read_manual_labels(xlsx: Path) -> dict[str, tuple[str, int]]:
    """id -> (manual label, sheet row) for every row whose ``manual_label`` is filled."""
    try:
        book = load_workbook(xlsx, read_only=True)
    except FileNotFoundError as exc:
        raise InputError("file not found", path=xlsx) from exc
    except Exception as exc:  # openpyxl raises several types for a file that is not a workbook
        raise InputError(f"not a readable .xlsx workbook ({type(exc).__name__})", path=xlsx) from exc
    rows = book.worksheets[0].iter_rows(values_only=True)
    header = [str(c).strip() if c is not None else "" for c in next(rows, ())]
    for name in ("id", "manual_label"):
        if name not in header:
            raise InputError(f"missing column {name!r} in the header row", path=xlsx, line=1)
    id_col, label_col = header.index("id"), header.index("manual_label")
    labels: dict[str, tuple[str, int]] = {}
    for number, row in enumerate(rows, start=2):
        if row is None or all(c is None for c in row):
            continue
        value = row[label_col] if label_col < len(row) else None
        if value is None or str(value).strip() == "":
            continue  # not reviewed yet: stays Need_Check
        label = str(value).strip()
        # A lettered item's answer is its letter (checked against its options on import).
        if label not in REVIEW_LABELS and not (len(label) == 1 and label in OPTION_LETTERS):
            raise InputError(
                f"manual_label must be one of {', '.join(REVIEW_LABELS)} (or a letter), got {label!r}",
                path=xlsx,
                line=number,
            )
        item_id = row[id_col] if id_col < len(row) else None
        if item_id is None or str(item_id).strip() == "":
            raise InputError("manual_label is filled but id is empty", path=xlsx, line=number)
        key = str(item_id).strip()
        if key in labels:
            raise InputError(f"id {key!r} twice (first at row {labels[key][1]})", path=xlsx, line=number)
        labels[key] = (label, number)
    return labels


def import_review(run_dir: Path, xlsx: Path, *, db: str | None = None) -> dict[str, Any]:
    results, records = _run_files(run_dir)
    labels = _read_manual_labels(xlsx)
    by_id = {str(r["id"]): r for r in records}
    for item_id, (_, number) in sorted(labels.items(), key=lambda kv: kv[1][1]):
        if item_id not in by_id:
            raise InputError(f"id {item_id!r} is not in {run_dir / 'samples.jsonl'}", path=xlsx, line=number)
    for item_id, (label, number) in labels.items():
        record = by_id[item_id]
        allowed = (
            (*OPTION_LETTERS[: record["n_options"]], *REVIEW_LABELS[2:])
            if record.get("n_options")
            else REVIEW_LABELS
        )
        if label not in allowed:
            raise InputError(
                f"manual_label for id {item_id!r} must be one of {', '.join(allowed)}, got {label!r}",
                path=xlsx,
                line=number,
            )
        record.update(pred=label, rule="manual", correct=label == record["label"])
    results.update(compute_mc_metrics(scored_samples(records)))
    results["manual_review"] = {"n_labelled": sum(1 for r in records if r.get("rule") == "manual")}
    # Only `cvalues mc` runs live in the store (`mc score` runs do not): open it before writing
    # anything, so that a bad --db leaves the run directory as it was.
    store = _open_run_store(results, db)
    try:
        write_jsonl(run_dir / "samples.jsonl", records)
        write_json(run_dir / "results.json", results)
        if store is not None:
            _record_in_store(store, results["run_id"], records)
    finally:
        if store is not None:
            store.close()
    return results


def _open_run_store(results: dict[str, Any], db: str | None) -> Store | None:
    if results.get("task") != "mc" or not results.get("run_id"):
        return None
    return open_store(db)


def _record_in_store(store: Store, run_id: str, records: list[dict[str, Any]]) -> None:
    if store.get_run(run_id) is None:
        return
    store.save_run_items(
        run_id,
        [
            RunItemRow(
                item_key=r["id"],
                request_hash=r.get("request_hash") or "",
                parsed={"pred": r["pred"], "rule": "manual", "request_hash": r.get("request_hash")},
                score={"correct": r["correct"]},
            )
            for r in records
            if r.get("rule") == "manual"
        ],
    )
