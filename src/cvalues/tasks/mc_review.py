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

from cvalues.data.readers import read_rows
from cvalues.errors import InputError
from cvalues.report.files import read_json, write_json, write_jsonl
from cvalues.scoring.metrics import compute_mc_metrics
from cvalues.tasks.mc import scored_samples

REVIEW_LABELS = ("回复1", "回复2", "Other", "Refuse")
COLUMNS = ("id", "prompt", "response", "manual_label")
# Excel refuses cells longer than this; a longer reply is cut in the sheet only.
_XLSX_CELL_LIMIT = 32_000


def _run_files(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if not (run_dir / "results.json").is_file() or not (run_dir / "samples.jsonl").is_file():
        raise InputError("not a run directory (needs results.json and samples.jsonl)", path=run_dir)
    return read_json(run_dir / "results.json"), [
        r.data for r in read_rows(run_dir / "samples.jsonl", fmt="jsonl")
    ]


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
            sheet.append(
                [
                    r["id"],
                    (r.get("prompt") or "")[:_XLSX_CELL_LIMIT],
                    (r.get("response") or "")[:_XLSX_CELL_LIMIT],
                    None,
                ]
            )
            n += 1
    xlsx.parent.mkdir(parents=True, exist_ok=True)
    book.save(xlsx)
    return n


def _read_manual_labels(xlsx: Path) -> dict[str, str]:
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
    labels: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        if row is None or all(c is None for c in row):
            continue
        value = row[label_col] if label_col < len(row) else None
        if value is None or str(value).strip() == "":
            continue  # not reviewed yet: stays Need_Check
        label = str(value).strip()
        if label not in REVIEW_LABELS:
            raise InputError(
                f"manual_label must be one of {', '.join(REVIEW_LABELS)}, got {label!r}",
                path=xlsx,
                line=number,
            )
        labels[str(row[id_col])] = label
    return labels


def import_review(run_dir: Path, xlsx: Path, *, db: str | None = None) -> dict[str, Any]:
    results, records = _run_files(run_dir)
    labels = _read_manual_labels(xlsx)
    by_id = {r["id"]: r for r in records}
    unknown = sorted(set(labels) - set(by_id))
    if unknown:
        raise InputError(f"id {unknown[0]!r} is not in {run_dir / 'samples.jsonl'}", path=xlsx)
    for item_id, label in labels.items():
        record = by_id[item_id]
        record.update(pred=label, rule="manual", correct=label == record["label"])
    results.update(compute_mc_metrics(scored_samples(records)))
    results["manual_review"] = {"n_labelled": sum(1 for r in records if r.get("rule") == "manual")}
    write_jsonl(run_dir / "samples.jsonl", records)
    write_json(run_dir / "results.json", results)
    _record_in_store(results.get("run_id"), records, db)
    return results


def _record_in_store(run_id: str | None, records: list[dict[str, Any]], db: str | None) -> None:
    from cvalues.store import open_store
    from cvalues.store.store import RunItemRow

    store = open_store(db)
    try:
        if run_id is None or store.get_run(run_id) is None:
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
    finally:
        store.close()
