"""Exporting a task's labels (JSONL, CSV, XLSX, Label Studio JSON) and importing them back.

One row per label, plus one row without annotator for an item nobody labelled yet, so that an
export imported into an empty store gives back the same task, items, labels and adjudications
(JSONL, CSV and XLSX round-trip; Label Studio's JSON is for use in Label Studio). In CSV and XLSX
the structured cells (``label``, ``item``, ``adjudicated``) hold JSON text.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from cvalues.annotate.accounts import Accounts, check_user_name
from cvalues.annotate.cell_safety import append_xlsx_row, escape_csv_text, unescape_csv_text
from cvalues.annotate.ids import check_task_id
from cvalues.annotate.kinds import LabelError, check_kind, label_summary, parse_comment, parse_label
from cvalues.annotate.records import TaskRecord
from cvalues.annotate.task_store import TaskStore
from cvalues.core.errors import InputError
from cvalues.core.files import write_json
from cvalues.data.encoding import read_bytes
from cvalues.data.readers import rows_from_bytes, table_format_of
from cvalues.store.annotation_tables import ROLES
from cvalues.store.tables import utcnow

EXPORT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "xlsx", "label-studio")
IMPORT_FORMATS: tuple[str, ...] = ("jsonl", "csv", "xlsx")
# Readable copies first, for people opening the sheet; the JSON cells are what an import reads.
COLUMNS: tuple[str, ...] = (
    "task",
    "kind",
    "task_role",
    "per_item",
    "item_key",
    "annotator",
    "annotator_role",
    "position",
    "label_text",
    "comment",
    "adjudicated_text",
    "model",
    "domain",
    "scenario",
    "prompt",
    "response",
    "label",
    "adjudicated",
    "adjudication_note",
    "updated",
    "item",
)
_JSON_COLUMNS = ("label", "adjudicated", "item")


def _model_text(payload: dict[str, Any]) -> str:
    if "replies" in payload:
        return " | ".join(reply.get("model", "") for reply in payload["replies"])
    return str(payload.get("model") or "")


def _response_text(payload: dict[str, Any]) -> str:
    if "replies" in payload:
        return "\n\n".join(f"[{i + 1}] {reply.get('text', '')}" for i, reply in enumerate(payload["replies"]))
    return str(payload.get("response") or "")


def export_rows(tasks: TaskStore, accounts: Accounts, task_id: str) -> list[dict[str, Any]]:
    """Every label of a task as a flat row (structured values as Python objects)."""
    task = tasks.require_task(task_id)
    roles = {user.name: user.role for user in accounts.list_users()}
    adjudicated = tasks.adjudications(task_id)
    # One row per assignment, labelled or open (so an import restores what is left to do too).
    by_item: dict[int, list[tuple[str, int | None, Any]]] = {}
    for item_id, annotator, position, label in tasks.assignment_rows(task_id):
        by_item.setdefault(item_id, []).append((annotator, position, label))
    rows: list[dict[str, Any]] = []
    for item in tasks.items(task_id):
        final, note = adjudicated.get(item.id, (None, None))
        common = {
            "task": task.id,
            "kind": task.kind,
            "task_role": task.role,
            "per_item": task.per_item,
            "item_key": item.key,
            "adjudicated_text": label_summary(task.kind, final),
            "model": _model_text(item.payload),
            "domain": item.payload.get("domain"),
            "scenario": item.payload.get("scenario"),
            "prompt": item.payload.get("prompt", ""),
            "response": _response_text(item.payload),
            "adjudicated": final,
            "adjudication_note": note,
            "item": item.payload,
        }
        for annotator, position, label in by_item.get(item.id) or [("", None, None)]:  # type: ignore[assignment]
            rows.append(
                {
                    **common,
                    "annotator": annotator,
                    "position": position,
                    "annotator_role": roles.get(annotator, ""),
                    "label_text": label_summary(task.kind, label.label) if label else "",
                    "comment": label.comment if label else None,
                    "label": label.label if label else None,
                    "updated": label.updated.isoformat() if label else None,
                }
            )
    return [{column: row.get(column) for column in COLUMNS} for row in rows]


def _cell(value: Any, column: str) -> Any:
    if column in _JSON_COLUMNS:
        return "" if value is None else json.dumps(value, ensure_ascii=False)
    return "" if value is None else value


def write_export(rows: list[dict[str, Any]], fmt: str, out: Path) -> None:
    """Write export rows to ``out`` as ``fmt`` (one of ``EXPORT_FORMATS``)."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}", flag="--format")
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        out.write_text(text, encoding="utf-8")
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(
            {column: escape_csv_text(_cell(row[column], column)) for column in COLUMNS} for row in rows
        )
        # A BOM, so that Excel opens the Chinese text as UTF-8.
        out.write_text("\ufeff" + buffer.getvalue(), encoding="utf-8")
    elif fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        sheet.title = "labels"
        sheet.append(COLUMNS)
        for row in rows:
            append_xlsx_row(sheet, (_cell(row[column], column) for column in COLUMNS))
        book.save(out)
    else:
        write_json(out, label_studio_tasks(rows))


def _ls_results(kind: str, label: dict[str, Any], comment: str | None) -> list[dict[str, Any]]:
    def entry(name: str, kind_: str, value: dict[str, Any]) -> dict[str, Any]:
        return {"from_name": name, "to_name": "response", "type": kind_, "value": value}

    results: list[dict[str, Any]] = []
    if kind == "safety":
        results.append(entry("verdict", "choices", {"choices": [label["verdict"]]}))
        if label.get("scenario"):
            results.append(entry("scenario", "textarea", {"text": [label["scenario"]]}))
    elif kind == "responsibility":
        results.append(entry("score", "rating", {"rating": label["score"]}))
    elif kind == "pairwise":
        results.append(entry("choice", "choices", {"choices": [f"reply_{label['choice'] + 1}"]}))
        results.append(entry("score", "rating", {"rating": label["score"]}))
        if label.get("rewrite"):
            results.append(entry("rewrite", "textarea", {"text": [label["rewrite"]]}))
    else:
        results.append(entry("label", "choices", {"choices": [label["label"]]}))
    if comment:
        results.append(entry("comment", "textarea", {"text": [comment]}))
    return results


def label_studio_tasks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Label Studio's task import format: one task per item, each label an annotation."""
    tasks: dict[str, dict[str, Any]] = {}
    for row in rows:
        payload = row["item"]
        task = tasks.get(row["item_key"])
        if task is None:
            data: dict[str, Any] = {"item_key": row["item_key"], "prompt": payload.get("prompt", "")}
            if "replies" in payload:
                data.update({f"reply_{i + 1}": r.get("text", "") for i, r in enumerate(payload["replies"])})
            else:
                data["response"] = payload.get("response", "")
            data.update(domain=payload.get("domain"), scenario=payload.get("scenario"), model=row["model"])
            task = tasks[row["item_key"]] = {"data": data, "annotations": [], "meta": {"task": row["task"]}}
        if row["label"]:
            task["annotations"].append(
                {
                    "result": _ls_results(row["kind"], row["label"], row["comment"]),
                    "meta": {"annotator": row["annotator"]},
                }
            )
    return list(tasks.values())


# -- import ------------------------------------------------------------------------------------


def _structured(value: Any, column: str, path: Path, line: int) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"column {column!r} must hold JSON ({exc.msg})", path=path, line=line) from exc
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


@dataclass(frozen=True)
class _ImportRow:
    """One row of an import, checked: everything the store is given, nothing left to validate."""

    line: int
    task_id: str
    kind: str
    key: str
    payload: dict[str, Any]
    task: TaskRecord | None  # a task this row creates (the first row of a task not in the store)
    annotator: str
    role: str
    position: int | None
    label: dict[str, Any] | None
    comment: str | None
    updated: datetime | None
    final: dict[str, Any] | None
    note: str | None


def import_labels(tasks: TaskStore, accounts: Accounts, path: Path) -> dict[str, int]:
    """Read an export (JSONL, CSV or XLSX) back into the store: tasks, items, users, labels,
    adjudications. Re-importing the same file changes nothing. Returns counts per kind of row.

    The whole file is read and checked before the first write, so a bad row (named by its line)
    leaves the store as it was: nothing of the file is half-imported."""
    rows = _checked_import_rows(tasks, path)
    counts = {"rows": 0, "labels": 0, "adjudications": 0, "tasks_created": 0}
    for row in rows:
        if row.task is not None:
            tasks.insert_task(row.task)
            counts["tasks_created"] += 1
        item_id = tasks.ensure_item(row.task_id, row.key, row.payload)
        if row.annotator:
            user = accounts.ensure_user(row.annotator, row.role)
            tasks.ensure_assignment(row.task_id, item_id, user, row.position)
            if row.label is not None:
                tasks.import_label(row.task_id, item_id, user, row.label, row.comment, row.updated)
                counts["labels"] += 1
        if row.final is not None:
            tasks.adjudicate(row.task_id, item_id, row.final, row.note, None)
            counts["adjudications"] += 1
        counts["rows"] += 1
    return counts


def _checked_import_rows(tasks: TaskStore, path: Path) -> list[_ImportRow]:
    """Every row of an import file, checked (reads the store for the kinds of existing tasks only)."""
    # task id -> (kind, role, the line that created it; None: a task already in the store)
    known: dict[str, tuple[str, str, int | None]] = {}
    checked: list[_ImportRow] = []
    raw = read_bytes(path)
    fmt = table_format_of(path, raw)
    for row in rows_from_bytes(raw, path, fmt):
        line = row.line
        # CSV exports escape text that could start a formula (cell_safety); XLSX keeps it as is.
        data = {k: unescape_csv_text(v) for k, v in row.data.items()} if fmt == "csv" else row.data
        missing = [name for name in ("task", "kind", "item_key", "item") if name not in data]
        if missing:
            raise InputError(
                f"missing column {missing[0]!r} (is this a cvalues annotate export?)", path=path, line=line
            )
        task_id, kind, key = _text(data["task"]), _text(data["kind"]), _text(data["item_key"])
        try:
            check_kind(kind)
        except LabelError as exc:
            raise InputError(str(exc), path=path, line=line) from exc
        payload = _structured(data["item"], "item", path, line)
        if not task_id or not key or not isinstance(payload, dict):
            raise InputError("task, item_key and item (a JSON object) are required", path=path, line=line)
        check_task_id(task_id, path=path, line=line)
        new_task = None
        if task_id not in known:
            stored = tasks.get_task(task_id)
            if stored is None:
                new_task = _imported_task(task_id, kind, data, path)
                known[task_id] = (kind, new_task.role, line)
            else:
                known[task_id] = (stored.kind, stored.role, None)
        known_kind, task_role, since = known[task_id]
        if known_kind != kind:
            where = "in the store" if since is None else f"on line {since}"
            raise InputError(
                f"task {task_id!r} is a {known_kind} task {where}, not {kind}", path=path, line=line
            )
        n_replies = len(payload.get("replies") or [])
        label = _structured(data.get("label"), "label", path, line)
        annotator = _text(data.get("annotator"))
        role = _text(data.get("annotator_role")) or task_role
        labelled = bool(annotator) and label is not None
        if annotator:
            if role not in ROLES:
                raise InputError(f"annotator_role must be one of {', '.join(ROLES)}", path=path, line=line)
            try:
                check_user_name(annotator)
            except InputError as exc:
                raise InputError(exc.message, path=path, line=line) from exc
        final = _structured(data.get("adjudicated"), "adjudicated", path, line)
        checked.append(
            _ImportRow(
                line=line,
                task_id=task_id,
                kind=kind,
                key=key,
                payload=payload,
                task=new_task,
                annotator=annotator,
                role=role,
                position=_position(data.get("position"), path, line) if annotator else None,
                label=_checked_label(kind, label, n_replies, path, line) if labelled else None,
                comment=_comment(data.get("comment"), path, line) if labelled else None,
                updated=_timestamp(data.get("updated"), path, line) if labelled else None,
                final=None if final is None else _checked_label(kind, final, n_replies, path, line),
                note=_comment(data.get("adjudication_note"), path, line) if final is not None else None,
            )
        )
    return checked


def _comment(value: Any, path: Path, line: int) -> str | None:
    try:
        return parse_comment(value)
    except LabelError as exc:  # too long
        raise InputError(str(exc), path=path, line=line) from exc


def _position(value: Any, path: Path, line: int) -> int | None:
    text = _text(value)
    if not text:
        return None
    try:
        return max(0, int(float(text)))
    except ValueError as exc:
        raise InputError(f"position must be a whole number, got {text!r}", path=path, line=line) from exc


def _timestamp(value: Any, path: Path, line: int) -> datetime | None:
    if isinstance(value, datetime):
        stamp = value
    else:
        text = _text(value)
        if not text:
            return None
        try:
            stamp = datetime.fromisoformat(text)
        except ValueError as exc:
            raise InputError(
                f"updated must be an ISO date and time, got {text!r}", path=path, line=line
            ) from exc
    # A spreadsheet may drop the zone; the store keeps UTC.
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _checked_label(kind: str, label: Any, n_replies: int, path: Path, line: int) -> dict[str, Any]:
    if not isinstance(label, dict):
        raise InputError("a label must be a JSON object", path=path, line=line)
    try:
        return parse_label(kind, label, n_replies=n_replies)
    except LabelError as exc:
        raise InputError(str(exc), path=path, line=line) from exc


def _imported_task(task_id: str, kind: str, data: dict[str, Any], path: Path) -> TaskRecord:
    role = _text(data.get("task_role")) or "annotator"
    try:
        per_item = int(_text(data.get("per_item")) or 1)
    except ValueError:
        per_item = 1
    meta = {"imported_from": str(path.resolve())}
    return TaskRecord(task_id, kind, role, per_item, 0, f"import:{path.name}", meta, utcnow())


def export_task(tasks: TaskStore, accounts: Accounts, task_id: str, fmt: str, out: Path) -> int:
    """Write a task's export to ``out``; returns the number of rows."""
    rows = export_rows(tasks, accounts, task_id)
    write_export(rows, fmt, out)
    return len(rows)
