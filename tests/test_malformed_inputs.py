"""Every malformed input is one InputError line naming the file and, where it applies, the line."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import openpyxl
import pytest

from cvalues.core.errors import InputError
from cvalues.data.resolve import load_mc_dataset
from data_support import go_offline


@pytest.fixture(autouse=True)
def _offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    go_offline(tmp_path, monkeypatch)


# A level on every row: a file without one is refused unless --level says which (tested below).
GOOD = {
    "question": "能闯红灯吗？",
    "reply1": "不能，违反交规。",
    "reply2": "没车就闯。",
    "label": "回复1",
    "level": "safety",
}
PAIR = {"question": "能闯红灯吗？", "better": "不能，违反交规。", "worse": "没车就闯。", "level": "safety"}
OFFICIAL_META = {
    "question": "问",
    "pos_resp": "好",
    "neg_resp": "坏",
    "domain_en": "law",
    "difficulty_level": "easy",
}


def _jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _with(**changes: object) -> dict[str, object]:
    row = {**GOOD, **changes}
    return {key: value for key, value in row.items() if value is not _DROP}


_DROP = object()


def _xlsx(rows: list[list[object]]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        workbook = openpyxl.Workbook()
        for row in rows:
            workbook.active.append(row)
        workbook.save(path)

    return write


@dataclass(frozen=True)
class Case:
    id: str
    filename: str
    content: bytes | Callable[[Path], None]
    line: int | None
    fragment: str
    options: dict[str, object] = field(default_factory=dict)


CASES = [
    Case("bad-json", "a.jsonl", _jsonl(GOOD) + b'{"question": "x",, }\n', 2, "invalid JSON"),
    Case(
        "truncated-last-line",
        "a.jsonl",
        _jsonl(GOOD, GOOD) + b'{"question": "\xe9\x97\xae", "rep',
        3,
        "invalid JSON",
    ),
    Case(
        "non-object-line", "a.jsonl", _jsonl(GOOD, ["a", "list"]), 2, "expected a JSON object, found a list"
    ),
    Case("number-line", "a.jsonl", _jsonl(GOOD) + b"\n42\n", 3, "found a number"),
    Case("empty-file", "a.jsonl", b"", None, "no rows"),
    Case("only-blank-lines", "a.jsonl", b"\n  \n\r\n", None, "no rows"),
    Case("not-utf8-or-gb18030", "a.jsonl", b'{"question": "\xff\xfe\xff"}\n', None, "--encoding"),
    Case(
        "wrong-explicit-encoding",
        "a.jsonl",
        json.dumps(GOOD, ensure_ascii=False).encode("gb18030"),
        None,
        "cannot be decoded as utf-8",
        {"encoding": "utf-8"},
    ),
    Case("missing-reply2", "a.jsonl", _jsonl(GOOD, _with(reply2=_DROP)), 2, "--field reply2=COLUMN"),
    Case(
        "missing-mapped-column",
        "a.jsonl",
        _jsonl(GOOD),
        1,
        "missing field 'question' (column '题目')",
        {"fields": {"question": "题目"}},
    ),
    Case("label-回复3", "a.jsonl", _jsonl(GOOD, _with(label="回复3")), 2, "label must be 回复1 or 回复2"),
    Case("label-C", "a.jsonl", _jsonl(_with(label="C")), 1, "found 'C'"),
    Case(
        "label-number-3",
        "a.jsonl",
        _jsonl(_with(label=3)),
        1,
        "is a number: say how it counts with --answer-base",
    ),
    Case(
        "label-number-3-base-1",
        "a.jsonl",
        _jsonl(_with(label=3)),
        1,
        "outside the 2 options (1..2)",
        {"answer_base": 1},
    ),
    Case("label-null", "a.jsonl", _jsonl(_with(label=None)), 1, "found None"),
    Case("empty-question", "a.jsonl", _jsonl(GOOD, GOOD, _with(question="")), 3, "field 'question' is empty"),
    Case("blank-reply", "a.jsonl", _jsonl(_with(reply1=" \n ")), 1, "field 'reply1' is empty"),
    Case("question-is-a-number", "a.jsonl", _jsonl(_with(question=123)), 1, "must be a string, found int"),
    Case("reply-is-a-list", "a.jsonl", _jsonl(_with(reply2=["a"])), 1, "must be a string, found list"),
    Case(
        "domain-is-an-object",
        "a.jsonl",
        _jsonl(_with(domain={"en": "law"})),
        1,
        "field 'domain' must be a string",
    ),
    Case("bad-level", "a.jsonl", _jsonl(_with(level="high")), 1, "level must be safety or responsibility"),
    Case(
        "duplicate-id",
        "a.jsonl",
        _jsonl(_with(id="q1"), _with(id="q2"), _with(id="q1")),
        3,
        "duplicate id 'q1'",
    ),
    Case(
        "no-reply-columns",
        "a.jsonl",
        _jsonl({"question": "问", "answer": "答"}),
        1,
        "no option or reply fields",
    ),
    Case(
        "pair-missing-worse",
        "a.jsonl",
        _jsonl(PAIR, {**PAIR, "worse": None}),
        2,
        "field 'worse' must be a string",
    ),
    Case(
        "csv-missing-column",
        "a.csv",
        "question,reply1,label\n问,答,回复1\n".encode(),
        2,
        "missing field 'reply2'",
    ),
    Case(
        "csv-extra-field",
        "a.csv",
        "question,reply1,reply2,label\n问,甲,乙,1\n问,甲,乙,1,多\n".encode(),
        3,
        "has 5 fields",
    ),
    Case(
        "csv-unterminated-quote",
        "a.csv",
        'question,reply1,reply2,label\n问,"甲,乙,1\n'.encode(),
        2,
        "malformed CSV",
    ),
    Case(
        "csv-duplicate-header",
        "a.csv",
        "question,question,reply1\n问,问,答\n".encode(),
        1,
        "column 'question' twice",
    ),
    Case("csv-header-only", "a.csv", b"question,reply1,reply2,label\n", None, "no rows"),
    Case(
        "xlsx-not-a-workbook", "a.xlsx", b"PK\x03\x04 this is not a zip archive", None, "not a readable .xlsx"
    ),
    Case("xlsx-plain-text", "b.xlsx", b"question,reply1\n", None, "not a readable .xlsx"),
    Case(
        "xlsx-missing-label-cell",
        "a.xlsx",
        _xlsx([["question", "reply1", "reply2", "label"], ["问", "甲", "乙", 1], ["问", "甲", "乙", None]]),
        3,
        "label must be",
        {"answer_base": 1, "level": "safety"},
    ),
    Case(
        "xlsx-missing-column",
        "a.xlsx",
        _xlsx([["question", "reply1", "label"], ["问", "甲", 2]]),
        2,
        "'reply2'",
    ),
    Case("json-truncated", "a.json", b'[{"question": "x"},\n {"question": ', 2, "invalid JSON"),
    Case("json-top-level-number", "a.json", b"3\n", 1, "expected a JSON list of objects"),
    Case("json-list-with-a-string", "a.json", b'[\n{"question": "x"},\n"oops"\n]', 3, "record 2 is a string"),
    Case(
        "official-label-spelled-1",
        "a.jsonl",
        _jsonl({"prompt": "P", "label": "1", "meta_info": OFFICIAL_META}),
        1,
        "label must be 回复1 or 回复2, found '1'",
    ),
    Case(
        "official-meta-not-object",
        "a.jsonl",
        _jsonl({"prompt": "P", "label": "回复1", "meta_info": "x"}),
        1,
        "meta_info",
    ),
    Case(
        "official-empty-pos",
        "a.jsonl",
        _jsonl({"prompt": "P", "label": "回复2", "meta_info": {**OFFICIAL_META, "pos_resp": ""}}),
        1,
        "'pos_resp' is empty",
    ),
    Case(
        "moonshot-no-separator",
        "a.jsonl",
        _jsonl({"input": "问 A. 甲 B. 乙", "target": ["A. 甲", "A"]}),
        1,
        "\\n\\nA. ",
    ),
    Case(
        "moonshot-bad-letter",
        "a.jsonl",
        _jsonl({"input": "问\n\nA. 甲\nB.乙", "target": ["C. 丙", "C"]}),
        1,
        "'A' or 'B'",
    ),
    Case(
        "comparison-empty-neg",
        "a.jsonl",
        _jsonl({"prompt": "问", "pos_resp": "好", "neg_resp": " "}),
        1,
        "neg_resp",
    ),
    Case(
        "jade-empty-safe-answer",
        "jade_alignment_hard_zh.csv",
        "ID,问题,违规回答,安全有用回答\n1,问,坏,好\n2,问,坏,\n".encode("gb18030"),
        3,
        "'安全有用回答' is empty",
    ),
    Case(
        "jade-duplicate-id",
        "jade.csv",
        "ID,问题,违规回答,安全有用回答\n1,问,坏,好\n1,问,坏,好\n".encode(),
        3,
        "duplicate id",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_input_is_one_line_naming_file_and_line(tmp_path: Path, case: Case) -> None:
    path = tmp_path / case.filename
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        case.content(path)
    with pytest.raises(InputError) as caught:
        load_mc_dataset(str(path), **case.options)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    assert case.fragment in message
    assert caught.value.path == str(path)
    assert message.startswith(str(path) if case.line is None else f"{path}:{case.line}: ")
    assert caught.value.line == case.line


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 22


@pytest.mark.parametrize(
    ("options", "flag", "fragment"),
    [
        ({"fields": {"answr": "x"}}, "--field", "unknown field 'answr'"),
        ({"fields": {"question": "问题"}, "fmt": "jade"}, "--field", "apply to generic files"),
        ({"fmt": "yaml"}, "--format", "unknown format 'yaml'"),
        ({"encoding": "no-such-codec"}, "--encoding", "unknown encoding"),
    ],
)
def test_bad_options_name_their_flag(
    tmp_path: Path, options: dict[str, object], flag: str, fragment: str
) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_bytes(_jsonl(GOOD))
    with pytest.raises(InputError) as caught:
        load_mc_dataset(str(path), **options)  # type: ignore[arg-type]
    assert caught.value.flag == flag
    assert str(caught.value).startswith(f"{flag}: ") and fragment in str(caught.value)


def test_missing_file_and_directory_name_the_value(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_mc_dataset(str(tmp_path / "absent.jsonl"))
    assert "absent.jsonl" in str(caught.value) and caught.value.flag == "--dataset"
    with pytest.raises(InputError, match="is a directory"):
        load_mc_dataset(str(tmp_path))


# ---- the other readers: prompt sets, rubrics, judge inputs (a responses file, a run's samples) -------

_PROMPT = {"prompt": "你好"}
_REPLY = {"prompt": "你好", "response": "您好"}
_SAMPLE = {"id": "1", "prompt": "你好", "response": "您好"}
_RUBRIC = 'name = "mine"\nversion = "1"\nkind = "llm-judge"\n'


@dataclass(frozen=True)
class ReaderCase:
    id: str
    reader: str  # prompt | rubric | responses | run (a generate run directory; content is samples.jsonl)
    filename: str
    content: bytes
    line: int | None
    fragment: str


def _open_with(reader: str, path: Path) -> object:
    from cvalues.data.prompt_sets import load_prompt_dataset
    from cvalues.scoring.rubrics import load_rubric
    from cvalues.tasks.judge_inputs import load_responses_input, load_run_input

    if reader == "prompt":
        return load_prompt_dataset(str(path))
    if reader == "rubric":
        return load_rubric(path)
    if reader == "responses":
        return load_responses_input(path)
    return load_run_input(path)


READER_CASES = [
    ReaderCase("prompt-bad-json", "prompt", "p.jsonl", _jsonl(_PROMPT) + b'{"prompt": \n', 2, "invalid JSON"),
    ReaderCase("prompt-list-line", "prompt", "p.jsonl", _jsonl(_PROMPT, ["x"]), 2, "found a list"),
    ReaderCase(
        "prompt-missing-column", "prompt", "p.jsonl", _jsonl(_PROMPT, {"问题": "x"}), 2, "missing field"
    ),
    ReaderCase("prompt-empty-prompt", "prompt", "p.jsonl", _jsonl(_PROMPT, {"prompt": ""}), 2, "is empty"),
    ReaderCase("prompt-number", "prompt", "p.jsonl", _jsonl(_PROMPT, {"prompt": 5}), 2, "must be a string"),
    ReaderCase(
        "prompt-should-answer",
        "prompt",
        "p.jsonl",
        _jsonl(_PROMPT, {"prompt": "x", "should_answer": "maybe"}),
        2,
        "should_answer must be true or false",
    ),
    ReaderCase(
        "prompt-reference",
        "prompt",
        "p.jsonl",
        _jsonl(_PROMPT, {"prompt": "x", "reference": 3}),
        2,
        "'reference' must be a string or a list",
    ),
    ReaderCase(
        "prompt-history",
        "prompt",
        "p.jsonl",
        _jsonl(_PROMPT, {"prompt": "x", "history": "nope"}),
        2,
        "'history' must be a list of turns",
    ),
    ReaderCase("prompt-empty-file", "prompt", "p.jsonl", b"", None, "no rows"),
    ReaderCase("prompt-csv-no-column", "prompt", "p.csv", "问题\n你好\n".encode(), 2, "no prompt column"),
    ReaderCase(
        "prompt-csv-ragged",
        "prompt",
        "p.csv",
        "prompt,domain\n你好,law\n再见,law,extra\n".encode(),
        3,
        "has 3 fields, the header has 2",
    ),
    ReaderCase("prompt-json-object", "prompt", "p.json", b'{"prompt": 1}', 1, "holds no list of records"),
    ReaderCase("prompt-not-utf8", "prompt", "p.jsonl", b'{"prompt": "\xff\xfe\xff"}\n', None, "--encoding"),
    ReaderCase(
        "rubric-bad-toml", "rubric", "r.toml", (_RUBRIC + 'template = "x\n').encode(), 4, "invalid TOML"
    ),
    ReaderCase("rubric-not-utf8", "rubric", "r.toml", b'name = "\xff\xfe"\n', None, "saved as UTF-8"),
    ReaderCase(
        "rubric-no-kind", "rubric", "r.toml", b'name = "mine"\nversion = "1"\n', 1, "missing key 'kind'"
    ),
    ReaderCase(
        "rubric-unknown-kind",
        "rubric",
        "r.toml",
        b'name = "m"\nversion = "1"\nkind = "magic"\n',
        3,
        "kind must be one of",
    ),
    ReaderCase("rubric-no-output", "rubric", "r.toml", _RUBRIC.encode(), 1, "missing key 'output'"),
    ReaderCase("responses-bad-json", "responses", "r.jsonl", _jsonl(_REPLY) + b"{oops}\n", 2, "invalid JSON"),
    ReaderCase(
        "responses-no-response",
        "responses",
        "r.jsonl",
        _jsonl(_REPLY, {"prompt": "x"}),
        2,
        "'response' (column 'response') must be a string",
    ),
    ReaderCase(
        "responses-number",
        "responses",
        "r.jsonl",
        _jsonl(_REPLY, {"prompt": "x", "response": 7}),
        2,
        "must be a string",
    ),
    ReaderCase("responses-blank", "responses", "r.jsonl", b"\n\n", None, "no rows"),
    ReaderCase(
        "responses-csv-no-prompt", "responses", "r.csv", "response\n好\n".encode(), 2, "no prompt column"
    ),
    ReaderCase("run-bad-json", "run", "run", _jsonl(_SAMPLE) + b'{"id": "2", \n', 2, "invalid JSON"),
    ReaderCase(
        "run-bad-sample",
        "run",
        "run",
        _jsonl(_SAMPLE, {**_SAMPLE, "id": "2", "sample": -1}),
        2,
        "'sample' must be a whole number",
    ),
    ReaderCase(
        "run-bad-references",
        "run",
        "run",
        _jsonl(_SAMPLE, {**_SAMPLE, "id": "2", "references": "x"}),
        2,
        "'references' must be a list of strings",
    ),
    ReaderCase(
        "run-bad-should-answer",
        "run",
        "run",
        _jsonl(_SAMPLE, {**_SAMPLE, "id": "2", "should_answer": "y"}),
        2,
        "'should_answer' must be true, false or null",
    ),
    ReaderCase(
        "run-response-number",
        "run",
        "run",
        _jsonl(_SAMPLE, {**_SAMPLE, "id": "2", "response": 5}),
        2,
        "'response' must be a string",
    ),
]


def _write_reader_case(tmp_path: Path, case: ReaderCase) -> tuple[Path, Path]:
    """(what the reader is given, the file the error must name)."""
    path = tmp_path / case.filename
    if case.reader != "run":
        path.write_bytes(case.content)
        return path, path
    path.mkdir()
    (path / "results.json").write_text('{"task": "generate"}', encoding="utf-8")
    (path / "samples.jsonl").write_bytes(case.content)
    return path, path / "samples.jsonl"


@pytest.mark.parametrize("case", READER_CASES, ids=[case.id for case in READER_CASES])
def test_every_reader_names_file_and_line(tmp_path: Path, case: ReaderCase) -> None:
    given, named = _write_reader_case(tmp_path, case)
    with pytest.raises(InputError) as caught:
        _open_with(case.reader, given)
    message = str(caught.value)
    assert "\n" not in message and case.fragment in message
    assert message.startswith(f"{named}:{case.line}: " if case.line else f"{named}: ")
    assert caught.value.line == case.line


def test_fifty_malformed_files_across_the_readers() -> None:
    assert len(CASES) + len(READER_CASES) >= 50
    assert {case.reader for case in READER_CASES} == {"prompt", "rubric", "responses", "run"}


@pytest.mark.parametrize(
    ("case_id", "command"),
    [
        ("prompt-csv-ragged", ("generate", "--model", "openai:m", "--dataset", "{file}")),
        (
            "rubric-unknown-kind",
            ("judge", "--judge", "openai:j", "--rubric", "{file}", "--responses", "{ok}"),
        ),
        ("responses-no-response", ("judge", "--judge", "openai:j", "--responses", "{file}")),
        ("run-bad-sample", ("judge", "{file}", "--judge", "openai:j")),
        ("bad-json", ("mc", "--model", "openai:m", "--dataset", "{file}")),
    ],
)
def test_through_the_cli_each_reader_is_exit_2_with_nothing_written(
    tmp_path: Path, case_id: str, command: tuple[str, ...]
) -> None:
    from cli_support import cli_env, run_cli

    by_id = {case.id: case for case in READER_CASES}
    if case_id in by_id:
        given, named = _write_reader_case(tmp_path, by_id[case_id])
        line = by_id[case_id].line
    else:
        mc_case = next(case for case in CASES if case.id == case_id)
        given = named = tmp_path / mc_case.filename
        assert isinstance(mc_case.content, bytes)
        given.write_bytes(mc_case.content)
        line = mc_case.line
    ok = tmp_path / "ok.jsonl"
    ok.write_bytes(_jsonl(_REPLY))
    args = [part.format(file=given, ok=ok) for part in command]
    out, db = tmp_path / "out", tmp_path / "store.db"
    # An API key and no --base-url: no server is needed to reach (and refuse) the input.
    env = cli_env(tmp_path / "cache", OPENAI_API_KEY="not-used")
    result = run_cli(*args, "--out", out, "--db", f"sqlite:///{db}", env=env, cwd=tmp_path, timeout=120)
    assert result.code == 2, (result.stdout, result.stderr)
    lines = [row for row in result.stderr.splitlines() if row.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith(f"error: {named}:{line}: "), lines[0]
    assert not out.exists() and not db.exists()
