"""Rows from JSONL, JSON, CSV/TSV and XLSX files, each with the line (or Excel row) it came from.

Every problem with the file's shape is an InputError naming the file and line, so a user can open
the file at the right place. What the rows mean is the loaders' business, not this module's.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cvalues.core.errors import InputError
from cvalues.data.encoding import decode_bytes, read_bytes

TableFormat = Literal["jsonl", "json", "csv", "tsv", "xlsx"]
TABLE_FORMATS: tuple[str, ...] = ("jsonl", "json", "csv", "tsv", "xlsx")

# When a JSON file is an object, the list of records is looked for under these keys first.
_LIST_KEYS = ("examples", "data", "items", "rows", "records")
_XLSX_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class Row:
    """One record and the 1-based line (Excel row for XLSX) where it starts."""

    line: int
    data: dict[str, Any]


def table_format_of(path: str | Path, data: bytes) -> TableFormat:
    """The container format from the file name, or from the content when the name says nothing."""
    suffix = Path(path).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix in (".json", ".csv", ".tsv"):
        return suffix[1:]  # type: ignore[return-value]
    if data.startswith(_XLSX_MAGIC):
        return "xlsx"
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        # One object spread over many lines is JSON; one object per line is JSONL.
        first_line = data.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].rstrip()
        return "jsonl" if first_line.endswith(b"}") else "json"
    return "csv"


def read_rows(path: str | Path, *, encoding: str | None = None, fmt: TableFormat | None = None) -> list[Row]:
    """Read the records of a file; the format comes from the file name unless ``fmt`` is given."""
    data = read_bytes(path)
    return rows_from_bytes(data, path, fmt or table_format_of(path, data), encoding=encoding)


def rows_from_bytes(
    data: bytes, path: str | Path, fmt: TableFormat, *, encoding: str | None = None
) -> list[Row]:
    """Parse already-read bytes (the caller hashes the same bytes, so a file is read once)."""
    if fmt == "xlsx":
        rows = _xlsx_rows(data, path)
    else:
        text, _ = decode_bytes(data, path, encoding)
        if fmt == "jsonl":
            rows = jsonl_rows(text, path)
        elif fmt == "json":
            rows = json_rows(text, path)
        elif fmt in ("csv", "tsv"):
            rows = csv_rows(text, path, delimiter="\t" if fmt == "tsv" else ",")
        else:
            raise InputError(f"unknown table format {fmt!r}; use one of {', '.join(TABLE_FORMATS)}")
    if not rows:
        raise InputError("no rows", path=path)
    return rows


def jsonl_rows(text: str, path: str | Path) -> list[Row]:
    rows: list[Row] = []
    # split("\n"), not splitlines(): U+2028 and friends may sit unescaped inside JSON strings.
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=number) from exc
        if not isinstance(value, dict):
            raise InputError(f"expected a JSON object, found {_json_type(value)}", path=path, line=number)
        rows.append(Row(number, value))
    return rows


def json_rows(text: str, path: str | Path) -> list[Row]:
    """A JSON list of objects, or an object holding one; each row keeps the line it starts on."""
    try:
        top = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=exc.lineno) from exc
    if isinstance(top, list):
        start = text.index("[")
    elif isinstance(top, dict):
        key = _records_key(top, path)
        top = top[key]
        start = _member_value_start(text, key)
    else:
        raise InputError(f"expected a JSON list of objects, found {_json_type(top)}", path=path, line=1)
    lines = _element_lines(text, start, len(top))
    rows: list[Row] = []
    for index, (value, line) in enumerate(zip(top, lines, strict=True), start=1):
        if not isinstance(value, dict):
            raise InputError(
                f"record {index} is {_json_type(value)}, expected a JSON object", path=path, line=line
            )
        rows.append(Row(line, value))
    return rows


def csv_rows(text: str, path: str | Path, *, delimiter: str = ",") -> list[Row]:
    """Records under a header row; ``line`` is the physical line where the record starts."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[Row] = []
    header: list[str] | None = None
    last_line = 0
    try:
        for record in reader:
            start, last_line = last_line + 1, reader.line_num
            if not record or all(not cell.strip() for cell in record):
                continue
            if header is None:
                header = _header([cell.strip() for cell in record], path, start)
                continue
            if len(record) != len(header):
                raise InputError(
                    f"has {len(record)} fields, the header has {len(header)}", path=path, line=start
                )
            rows.append(Row(start, dict(zip(header, record, strict=True))))
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", path=path, line=last_line + 1) from exc
    return rows


def _xlsx_rows(data: bytes, path: str | Path) -> list[Row]:
    import zipfile

    # openpyxl is imported here: it is slow to import and only XLSX users need it.
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise InputError(f"not a readable .xlsx workbook ({type(exc).__name__})", path=path) from exc
    try:
        if not workbook.worksheets:
            raise InputError("the workbook has no sheet", path=path)
        rows: list[Row] = []
        header: list[str] | None = None
        # Read-only sheets yield every row from row 1 (gaps as empty rows), so the count is the Excel row.
        for number, values in enumerate(workbook.worksheets[0].iter_rows(values_only=True), start=1):
            if all(value is None or (isinstance(value, str) and not value.strip()) for value in values):
                continue
            if header is None:
                names = ["" if value is None else str(value).strip() for value in values]
                while names and not names[-1]:
                    names.pop()  # trailing empty header cells are formatting, not columns
                header = _header(names, path, number)
                continue
            record = {name: value for name, value in zip(header, values, strict=False) if name}
            rows.append(Row(number, record))
        return rows
    finally:
        workbook.close()


def _header(names: list[str], path: str | Path, line: int) -> list[str]:
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise InputError(f"the header names column {name!r} twice", path=path, line=line)
        seen.add(name)
    if not any(names):
        raise InputError("the header row is empty", path=path, line=line)
    return names


def _records_key(top: dict[str, Any], path: str | Path) -> str:
    candidates = [
        key for key, value in top.items() if isinstance(value, list) and value and isinstance(value[0], dict)
    ]
    for key in _LIST_KEYS:
        if key in candidates:
            return key
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise InputError("the JSON object holds no list of records", path=path, line=1)
    raise InputError(f"the JSON object holds several lists ({', '.join(candidates)})", path=path, line=1)


def _member_value_start(text: str, key: str) -> int:
    """Index of the '[' of top-level member ``key`` (the file is known to be valid JSON).

    The last occurrence wins, as in ``json.loads`` when a key is repeated.
    """
    decoder = json.JSONDecoder()
    found = -1
    index = _skip_ws(text, text.index("{") + 1)
    while text[index] != "}":
        name, index = decoder.raw_decode(text, index)
        index = _skip_ws(text, _skip_ws(text, index) + 1)  # past ':'
        if name == key:
            found = index
        _, index = decoder.raw_decode(text, index)
        index = _skip_ws(text, index)
        if text[index] == ",":
            index = _skip_ws(text, index + 1)
    return found


def _element_lines(text: str, start: int, count: int) -> list[int]:
    """The line of each element of the JSON array at ``start`` (a second, C-speed pass)."""
    decoder = json.JSONDecoder()
    lines: list[int] = []
    line, counted_to = text.count("\n", 0, start) + 1, start
    index = _skip_ws(text, start + 1)
    for _ in range(count):
        line += text.count("\n", counted_to, index)
        counted_to = index
        lines.append(line)
        _, index = decoder.raw_decode(text, index)
        index = _skip_ws(text, index)
        if text[index] == ",":
            index = _skip_ws(text, index + 1)
    return lines


def _skip_ws(text: str, index: int) -> int:
    while index < len(text) and text[index] in " \t\r\n":
        index += 1
    return index


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")
