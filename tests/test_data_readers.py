"""Readers: text encodings, digests, and rows with the line they start on, for every container format."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import openpyxl
import pytest

from cvalues.core.errors import InputError
from cvalues.data.encoding import read_text, sha256_file
from cvalues.data.readers import read_rows, table_format_of
from data_support import JADE_HARD_FILE, MOONSHOT_FILE, PROMPTS_FILE

TEXT = "问题：燃油车和电动车哪个好？\n回复1 更环保。\n"


@pytest.mark.parametrize(
    ("data", "expected_encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("gb18030"), "gb18030"),
    ],
)
def test_read_text_detects_the_encoding(tmp_path: Path, data: bytes, expected_encoding: str) -> None:
    path = tmp_path / "text.txt"
    path.write_bytes(data)
    assert read_text(path) == (TEXT, expected_encoding)


def test_read_text_uses_the_given_encoding(tmp_path: Path) -> None:
    path = tmp_path / "big5.txt"
    path.write_bytes("電動車".encode("big5"))
    assert read_text(path, "big5") == ("電動車", "big5")


def test_read_text_refuses_what_is_neither_utf8_nor_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "binary.txt"
    path.write_bytes(b"\xff\xfe\xff\x00\x81")
    with pytest.raises(InputError) as caught:
        read_text(path)
    assert "binary.txt" in str(caught.value) and "--encoding" in str(caught.value)


def test_real_jade_file_is_read_as_gb18030() -> None:
    text, encoding = read_text(JADE_HARD_FILE)
    assert encoding == "gb18030"
    assert text.startswith("ID,问题,违规回答,安全有用回答")


def test_sha256_file_matches_the_published_digest() -> None:
    expected = "ee99050d4a8933829697c796e279b83795838feacefc84cdd06856bad01bfff4"
    assert sha256_file(PROMPTS_FILE) == expected == hashlib.sha256(PROMPTS_FILE.read_bytes()).hexdigest()


def test_jsonl_rows_keep_their_line_and_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": "第二\u2028行"}\r\n{"a": 3}', encoding="utf-8")
    rows = read_rows(path)
    assert [(row.line, row.data["a"]) for row in rows] == [(1, 1), (4, "第二\u2028行"), (5, 3)]


def test_json_list_rows_carry_the_line_of_each_element(tmp_path: Path) -> None:
    records = [{"q": "一"}, {"q": "二\n三"}, {"q": "四"}]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(records, ensure_ascii=False, indent=2), encoding="utf-8")
    rows = read_rows(path)
    assert [row.data for row in rows] == records
    assert [row.line for row in rows] == [2, 5, 8]


def test_json_object_holding_a_list_is_read_from_that_list(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.json"
    path.write_text(
        '{"name": "x", "meta": {"k": [1]},\n "examples": [\n{"q": 1},\n{"q": 2}]}', encoding="utf-8"
    )
    rows = read_rows(path)
    assert [(row.line, row.data["q"]) for row in rows] == [(3, 1), (4, 2)]


def test_json_repeated_key_reads_the_last_list_as_json_loads_does(tmp_path: Path) -> None:
    path = tmp_path / "repeated.json"
    path.write_text('{"examples": [{"q": 1}],\n"examples": [\n{"q": 2},\n{"q": 3}]}', encoding="utf-8")
    assert [(row.line, row.data["q"]) for row in read_rows(path)] == [(3, 2), (4, 3)]


def test_real_moonshot_file_rows_start_on_their_lines() -> None:
    rows = read_rows(MOONSHOT_FILE)
    assert len(rows) == 1712
    lines = MOONSHOT_FILE.read_text(encoding="utf-8").split("\n")
    assert all(lines[row.line - 1].strip() == "{" for row in rows)
    assert len({row.line for row in rows}) == 1712


def test_csv_rows_start_at_their_physical_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('question,answer\r\n一,"多\n行\n回答"\r\n\r\n二,短\r\n', encoding="utf-8")
    rows = read_rows(path)
    assert [(row.line, row.data) for row in rows] == [
        (2, {"question": "一", "answer": "多\n行\n回答"}),
        (6, {"question": "二", "answer": "短"}),
    ]


def test_tsv_is_split_on_tabs(tmp_path: Path) -> None:
    path = tmp_path / "rows.tsv"
    path.write_text("q\tr\n甲,乙\t丙\n", encoding="utf-8")
    assert [row.data for row in read_rows(path)] == [{"q": "甲,乙", "r": "丙"}]


def test_real_jade_csv_has_150_records_with_multiline_answers() -> None:
    rows = read_rows(JADE_HARD_FILE)
    assert len(rows) == 150
    assert [row.data["ID"] for row in rows[:3]] == ["1", "2", "3"]
    assert rows[1].line > 3  # the first record spans several physical lines


def test_xlsx_rows_carry_the_excel_row_number(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["question", "label", None])
    sheet.append(["第一", 1])
    sheet.append([])
    sheet.append(["第三", "回复2"])
    path = tmp_path / "rows.xlsx"
    workbook.save(path)
    rows = read_rows(path)
    assert [(row.line, row.data) for row in rows] == [
        (2, {"question": "第一", "label": 1}),
        (4, {"question": "第三", "label": "回复2"}),
    ]


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("a.jsonl", b"", "jsonl"),
        ("a.JSON", b"", "json"),
        ("a.tsv", b"", "tsv"),
        ("a.xlsx", b"", "xlsx"),
        ("a.data", b"PK\x03\x04rest", "xlsx"),
        ("a.data", b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n', "jsonl"),
        ("a.data", b'{\n  "a": 1\n}\n', "json"),
        ("a.data", b" [1]", "json"),
        ("a.txt", b"x,y\n", "csv"),
    ],
)
def test_table_format_from_name_then_content(name: str, data: bytes, expected: str) -> None:
    assert table_format_of(Path(name), data) == expected
