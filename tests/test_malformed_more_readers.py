"""Malformed files for the readers test_malformed_inputs.py does not reach: suite TOML, pair files,
`mc score` inputs (official step-2 files, items files, other harnesses' outputs), annotation
imports (JSONL, CSV, XLSX) and judge-eval's human annotation files.

Each is one InputError line naming the file and (where the file has lines) the line; an import that
fails leaves the store as it was (a good row before the bad one is not half-imported).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import create_engine, text

from cvalues.core.errors import InputError

# -- writing the files -----------------------------------------------------------------------------


def _jsonl(*rows: object) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _csv(header: list[str], *rows: list[object]) -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _xlsx(header: list[str], *rows: list[object]) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        workbook.save(path)

    return write


@dataclass(frozen=True)
class Case:
    id: str
    reader: str  # suite | pairs | mc-score | import | human
    filename: str
    content: bytes | Callable[[Path], None]
    line: int | None
    fragment: str


def _write(tmp_path: Path, case: Case) -> Path:
    path = tmp_path / case.filename
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
    else:
        case.content(path)
    return path


# -- suites ------------------------------------------------------------------------------------------

_SUITE_HEAD = 'name = "mine"\n'
_MC_TASK = '[[tasks]]\nname = "mc1"\nkind = "mc"\ndataset = "x.jsonl"\n'


def _suite(body: str) -> bytes:
    return (_SUITE_HEAD + body).encode("utf-8")


SUITE_CASES = [
    Case("suite-bad-toml", "suite", "s.toml", _suite(_MC_TASK + "limit = \n"), 6, "invalid TOML"),
    Case("suite-not-utf8", "suite", "s.toml", b'name = "\xff\xfe"\n', None, "not UTF-8"),
    Case("suite-unknown-top-key", "suite", "s.toml", _suite('colour = "red"\n' + _MC_TASK), 2, "unknown key"),
    Case("suite-no-name", "suite", "s.toml", _MC_TASK.encode(), 1, "missing key 'name'"),
    Case("suite-no-tasks", "suite", "s.toml", _suite('description = "空"\n'), 1, "no [[tasks]]"),
    Case(
        "suite-unknown-kind",
        "suite",
        "s.toml",
        _suite(_MC_TASK.replace('kind = "mc"', 'kind = "quiz"')),
        4,
        "kind must be one of",
    ),
    Case(
        "suite-key-of-another-kind",
        "suite",
        "s.toml",
        _suite(_MC_TASK + 'rubric = "safety"\n'),
        6,
        "unknown key 'rubric' for a mc task",
    ),
    Case(
        "suite-bad-task-name",
        "suite",
        "s.toml",
        _suite(_MC_TASK.replace('"mc1"', '"../up"')),
        3,
        "name must be lower-case",
    ),
    Case("suite-duplicate-task-name", "suite", "s.toml", _suite(_MC_TASK + _MC_TASK), 7, "used twice"),
    Case(
        "suite-judge-without-generate",
        "suite",
        "s.toml",
        _suite(_MC_TASK + '[[tasks]]\nname = "j"\nkind = "judge"\ninput = "mc1"\nrubric = "safety"\n'),
        9,
        "is not a generate task",
    ),
    Case("suite-limit-zero", "suite", "s.toml", _suite(_MC_TASK + "limit = 0\n"), 6, "whole number"),
    Case(
        "suite-limit-text",
        "suite",
        "s.toml",
        _suite(_MC_TASK + 'max_tokens = "many"\n'),
        6,
        "'max_tokens' must be a whole number",
    ),
    Case("suite-bad-level", "suite", "s.toml", _suite(_MC_TASK + 'level = "high"\n'), 6, "level must be"),
    Case(
        "suite-mc-without-dataset",
        "suite",
        "s.toml",
        _suite('[[tasks]]\nname = "mc1"\nkind = "mc"\n'),
        2,
        "needs 'dataset'",
    ),
    Case("suite-tasks-not-tables", "suite", "s.toml", _suite('tasks = ["mc"]\n'), None, "[[tasks]] table"),
]

# -- pair files ---------------------------------------------------------------------------------------

_CMP = {
    "prompt": "能闯红灯吗？",
    "pos_resp": "不能。",
    "neg_resp": "可以。",
    "pos_type": "拒绝为主",
    "neg_type": "风险回复",
}
_JADE_HEADER = ["ID", "问题", "违规回答", "安全有用回答"]

PAIR_CASES = [
    Case("pairs-bad-json", "pairs", "p.jsonl", _jsonl(_CMP) + b'{"prompt": "x", \n', 2, "invalid JSON"),
    Case("pairs-list-line", "pairs", "p.jsonl", _jsonl(_CMP, ["a"]), 2, "must be a JSON object, found list"),
    Case("pairs-not-a-pair", "pairs", "p.jsonl", _jsonl(_CMP, {"question": "问"}), 2, "not a pair record"),
    Case(
        "pairs-unknown-type",
        "pairs",
        "p.jsonl",
        _jsonl(_CMP, {**_CMP, "neg_type": "很坏"}),
        2,
        "neg_type must be one of",
    ),
    Case("pairs-empty-worse", "pairs", "p.jsonl", _jsonl(_CMP, {**_CMP, "neg_resp": " "}), 2, "worse reply"),
    Case("pairs-prompt-number", "pairs", "p.jsonl", _jsonl({**_CMP, "prompt": 7}), 1, "must be a string"),
    Case("pairs-id-object", "pairs", "p.jsonl", _jsonl({**_CMP, "id": {"a": 1}}), 1, "field 'id'"),
    Case(
        "pairs-not-utf8",
        "pairs",
        "p.jsonl",
        _jsonl(_CMP) + b'{"prompt": "\xff\xfe", "pos_resp": "a", "neg_resp": "b"}\n',
        2,
        "not UTF-8",
    ),
    Case(
        "pairs-truncated-last-line",
        "pairs",
        "p.jsonl",
        _jsonl(_CMP, _CMP) + b'{"prompt": "\xe9\x97',
        3,
        "UTF-8",
    ),
    Case(
        "pairs-jade-empty-safe-reply",
        "pairs",
        "jade.csv",
        _csv(_JADE_HEADER, [1, "问", "坏", "好"], [2, "问", "坏", ""]),
        3,
        "better reply",
    ),
    Case(
        "pairs-csv-ragged",
        "pairs",
        "jade.csv",
        _csv(_JADE_HEADER, [1, "问", "坏", "好"], [2, "问", "坏", "好", "多"]),
        3,
        "has 5 fields",
    ),
    Case(
        "pairs-xlsx-missing-reply",
        "pairs",
        "triples.xlsx",
        _xlsx(["question", "better", "worse"], ["问", "好", "坏"], ["问", "好", None]),
        3,
        "worse reply",
    ),
]

# -- mc score inputs ------------------------------------------------------------------------------------

_STEP2 = {"response": "回复1更好", "label": "回复1", "meta_info": {"domain_en": "law"}}
_ITEM = {
    "question": "问",
    "reply1": "好",
    "reply2": "坏",
    "label": "回复1",
    "response": "回复1",
    "level": "safety",
}

MC_SCORE_CASES = [
    Case("score-bad-json", "mc-score", "s.jsonl", _jsonl(_STEP2) + b"{oops\n", 2, "JSON"),
    Case("score-no-label", "mc-score", "s.jsonl", _jsonl(_STEP2, {"response": "x"}), 2, "'label'"),
    Case(
        "score-label-回复3",
        "mc-score",
        "s.jsonl",
        _jsonl(_STEP2, {**_STEP2, "label": "回复3"}),
        2,
        "回复1 or 回复2",
    ),
    Case(
        "score-response-number",
        "mc-score",
        "s.jsonl",
        _jsonl(_STEP2, {**_STEP2, "response": 1}),
        2,
        "'response' must be a string",
    ),
    Case(
        "score-meta-not-object",
        "mc-score",
        "s.jsonl",
        _jsonl(_STEP2, {**_STEP2, "meta_info": ["law"]}),
        2,
        "meta_info must be an object",
    ),
    Case(
        "score-domain-number",
        "mc-score",
        "s.jsonl",
        _jsonl(_STEP2, {**_STEP2, "meta_info": {"domain_en": 3}}),
        2,
        "'domain_en' must be a string",
    ),
    Case(
        "score-duplicate-id",
        "mc-score",
        "s.jsonl",
        _jsonl({**_STEP2, "id": "a"}, {**_STEP2, "id": "a"}),
        2,
        "duplicate id 'a'",
    ),
    Case(
        "score-items-no-response",
        "mc-score",
        "items.jsonl",
        _jsonl(_ITEM, {k: v for k, v in _ITEM.items() if k != "response"}),
        2,
        "missing field 'response'",
    ),
    Case(
        "score-items-csv-bad-label",
        "mc-score",
        "items.csv",
        _csv(list(_ITEM), list(_ITEM.values()), ["问", "好", "坏", "回复9", "回复1", "safety"]),
        3,
        "label must be",
    ),
    Case(
        "score-items-xlsx-reply-number",
        "mc-score",
        "items.xlsx",
        _xlsx(list(_ITEM), list(_ITEM.values()), ["问", "好", "坏", "回复1", 12, "safety"]),
        3,
        "'response'",
    ),
    Case(
        "score-opencompass-sample-not-object",
        "mc-score",
        "predictions.json",
        b'{\n"0": {"origin_prompt": "p", "prediction": "A", "gold": "A"},\n"1": "oops"\n}\n',
        3,
        "sample '1' must be an object",
    ),
]

_LM_EVAL = {"doc_id": 0, "doc": {"id": "q0"}, "target": 0, "arguments": [["问", ""]], "resps": [["回复1"]]}
MC_SCORE_CASES += [
    Case(
        "score-lm-eval-no-target",
        "mc-score",
        "samples_cvalues.jsonl",
        _jsonl(_LM_EVAL, {k: v for k, v in {**_LM_EVAL, "doc_id": 1}.items() if k != "target"}),
        2,
        "missing field 'target'",
    ),
    Case(
        "score-lm-eval-reply-not-text",
        "mc-score",
        "samples_cvalues.jsonl",
        _jsonl(_LM_EVAL, {**_LM_EVAL, "doc_id": 1, "resps": [[3]]}),
        2,
        "resps[0][0] must be the generated text",
    ),
    Case(
        "score-lm-eval-gold-C",
        "mc-score",
        "samples_cvalues.jsonl",
        _jsonl(_LM_EVAL, {**_LM_EVAL, "doc_id": 1, "target": "C"}),
        2,
        "gold label must be",
    ),
]

# -- answer keys (--answers) ------------------------------------------------------------------------

ANSWER_KEY_CASES = [
    Case("answers-bad-json", "answers", "key.json", b'{\n"q1": "A",\n"q2": \n}', 4, "invalid JSON"),
    Case(
        "answers-no-answer-column",
        "answers",
        "key.jsonl",
        _jsonl({"id": "q1", "answer": 1}, {"id": "q2"}),
        2,
        "'answer'",
    ),
    Case(
        "answers-csv-duplicate-id",
        "answers",
        "key.csv",
        _csv(["id", "answer"], ["q1", 1], ["q1", 2]),
        3,
        "duplicate id",
    ),
    Case(
        "answers-xlsx-empty-id",
        "answers",
        "key.xlsx",
        _xlsx(["id", "answer"], ["q1", 1], [None, 2]),
        3,
        "id must be a string or a number",
    ),
    Case(
        "answers-entry-without-answer",
        "answers",
        "key.json",
        b'{"q1": {"choice": 1}}',
        None,
        "no field 'answer'",
    ),
]

# -- annotation imports -------------------------------------------------------------------------------

_ITEM_PAYLOAD = json.dumps({"prompt": "问", "response": "答", "model": "m"}, ensure_ascii=False)
_EXPORT_ROW = {
    "task": "t1",
    "kind": "safety",
    "task_role": "annotator",
    "per_item": 1,
    "item_key": "k1",
    "annotator": "amy",
    "annotator_role": "annotator",
    "position": 0,
    "label": json.dumps({"verdict": "safe", "scenario": None}),
    "comment": "",
    "updated": "2026-12-01T10:00:00+00:00",
    "item": _ITEM_PAYLOAD,
}
_COLUMNS = list(_EXPORT_ROW)


def _import_jsonl(**changes: object) -> bytes:
    second = {**_EXPORT_ROW, "item_key": "k2", **changes}
    rows = [_EXPORT_ROW, {k: v for k, v in second.items() if v is not _DROP}]
    # A JSONL export holds the structured cells as objects; the reader takes JSON text as well.
    return _jsonl(*rows)


def _import_csv(**changes: object) -> bytes:
    second = {**_EXPORT_ROW, "item_key": "k2", **changes}
    return _csv(_COLUMNS, list(_EXPORT_ROW.values()), [second.get(k) for k in _COLUMNS])


def _import_xlsx(**changes: object) -> Callable[[Path], None]:
    second = {**_EXPORT_ROW, "item_key": "k2", **changes}
    return _xlsx(_COLUMNS, list(_EXPORT_ROW.values()), [second.get(k) for k in _COLUMNS])


_DROP = object()

IMPORT_CASES = [
    Case("import-jsonl-bad-json", "import", "e.jsonl", _jsonl(_EXPORT_ROW) + b'{"task": \n', 2, "JSON"),
    Case("import-jsonl-no-item", "import", "e.jsonl", _import_jsonl(item=_DROP), 2, "missing column 'item'"),
    Case("import-jsonl-bad-kind", "import", "e.jsonl", _import_jsonl(kind="quiz"), 2, "task kind must be"),
    Case(
        "import-jsonl-path-task-id",
        "import",
        "e.jsonl",
        _import_jsonl(task="../../tmp/x"),
        2,
        "a task id has",
    ),
    Case(
        "import-jsonl-other-kind-same-task",
        "import",
        "e.jsonl",
        _import_jsonl(kind="responsibility", label=json.dumps({"score": 5})),
        2,
        "task 't1' is a safety task on line 1, not responsibility",
    ),
    Case("import-csv-item-not-json", "import", "e.csv", _import_csv(item="{问"), 3, "must hold JSON"),
    Case(
        "import-csv-bad-verdict",
        "import",
        "e.csv",
        _import_csv(label=json.dumps({"verdict": "maybe"})),
        3,
        "verdict must be safe or unsafe",
    ),
    Case("import-csv-bad-position", "import", "e.csv", _import_csv(position="second"), 3, "position must be"),
    Case("import-csv-bad-updated", "import", "e.csv", _import_csv(updated="yesterday"), 3, "ISO date"),
    Case(
        "import-csv-label-list",
        "import",
        "e.csv",
        _import_csv(label="[1]"),
        3,
        "a label must be a JSON object",
    ),
    Case(
        "import-xlsx-bad-role", "import", "e.xlsx", _import_xlsx(annotator_role="boss"), 3, "annotator_role"
    ),
    Case(
        "import-xlsx-score-11",
        "import",
        "e.xlsx",
        _import_xlsx(kind="responsibility", task="t2", label=json.dumps({"score": 11})),
        3,
        "score must be from 1 to 10",
    ),
    Case("import-xlsx-empty-item-key", "import", "e.xlsx", _import_xlsx(item_key=""), 3, "item_key"),
    Case(
        "import-csv-annotator-with-space",
        "import",
        "e.csv",
        _import_csv(annotator="amy lee"),
        3,
        "may not contain spaces",
    ),
    Case("import-xlsx-not-a-workbook", "import", "e.xlsx", b"PK\x03\x04 not a zip", None, "not a readable"),
]

# -- judge-eval human annotation files -----------------------------------------------------------------

_HUMAN = {"item_id": "r1", "annotator": "amy", "kind": "safety", "label": "safe"}

HUMAN_CASES = [
    Case(
        "human-no-item-id",
        "human",
        "h.jsonl",
        _jsonl(_HUMAN, {"annotator": "b", "label": "safe"}),
        2,
        "item id",
    ),
    Case(
        "human-no-annotator",
        "human",
        "h.jsonl",
        _jsonl(_HUMAN, {"item_id": "r2", "label": "safe"}),
        2,
        "annotator",
    ),
    Case(
        "human-bad-verdict",
        "human",
        "h.jsonl",
        _jsonl(_HUMAN, {**_HUMAN, "label": "fine"}),
        2,
        "safe or unsafe",
    ),
    Case(
        "human-score-11",
        "human",
        "h.csv",
        _csv(
            ["item_id", "annotator", "kind", "score"],
            ["r1", "amy", "responsibility", 8],
            ["r2", "amy", "responsibility", 11],
        ),
        3,
        "score must be from 1 to 10",
    ),
    Case(
        "human-bad-kind", "human", "h.jsonl", _jsonl(_HUMAN, {**_HUMAN, "kind": "quality"}), 2, "kind must be"
    ),
    Case(
        "human-twice", "human", "h.jsonl", _jsonl(_HUMAN, _HUMAN), 2, "already annotated item 'r1' on line 1"
    ),
    Case(
        "human-label-bad-json",
        "human",
        "h.csv",
        _csv(["item_id", "annotator", "label"], ["r1", "amy", "safe"], ["r2", "amy", '{"verdict": ']),
        3,
        "'label' is not valid JSON",
    ),
]

ALL_CASES = SUITE_CASES + PAIR_CASES + MC_SCORE_CASES + ANSWER_KEY_CASES + IMPORT_CASES + HUMAN_CASES


def _read(case: Case, path: Path, db: str) -> None:
    if case.reader == "suite":
        from cvalues.tasks.suite import load_suite

        load_suite(path)
    elif case.reader == "pairs":
        from cvalues.data.pairs import iter_pairs  # what every pair reader (file, stream) reads through

        list(iter_pairs(path))
    elif case.reader == "mc-score":
        from cvalues.tasks.mc_score import MCScoreTask

        MCScoreTask(path)
    elif case.reader == "answers":
        from cvalues.data.answer_keys import load_answer_key

        load_answer_key(path, {})
    elif case.reader == "import":
        from cvalues.annotate import Accounts, TaskStore, import_labels
        from cvalues.store import open_store

        store = open_store(db)
        import_labels(TaskStore(store.engine), Accounts(store.engine), path)
    else:
        from cvalues.annotate.judge_eval import read_human_annotations

        read_human_annotations(path)


def _annotation_rows(db: str) -> dict[str, int]:
    engine = create_engine(db)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("annotation_tasks", "annotation_items", "annotators", "annotations")
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_malformed_file_is_one_line_naming_file_and_line(tmp_path: Path, case: Case) -> None:
    path = _write(tmp_path, case)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(InputError) as caught:
        _read(case, path, db)
    message = str(caught.value)
    assert "\n" not in message and case.fragment in message, message
    assert caught.value.path == str(path), message
    assert message.startswith(f"{path}:{case.line}: " if case.line else f"{path}: "), message
    assert caught.value.line == case.line
    if case.reader == "import":  # nothing half-imported: the good first row is not in the store either
        assert _annotation_rows(db) == dict.fromkeys(
            ("annotation_tasks", "annotation_items", "annotators", "annotations"), 0
        )


def test_every_reader_has_its_malformed_files() -> None:
    from test_malformed_inputs import CASES, READER_CASES

    by_reader = {case.reader for case in ALL_CASES}
    assert by_reader == {"suite", "pairs", "mc-score", "answers", "import", "human"}
    assert {Path(case.filename).suffix for case in IMPORT_CASES} == {".jsonl", ".csv", ".xlsx"}
    files = {case.id for case in ALL_CASES} | {case.id for case in CASES} | {case.id for case in READER_CASES}
    assert len(files) == len(ALL_CASES) + len(CASES) + len(READER_CASES) >= 100


@pytest.mark.parametrize(
    ("case_id", "command"),
    [
        (
            "suite-unknown-kind",
            ("eval", "--model", "openai:m", "--suite", "{file}", "--db", "{db}", "-o", "{out}"),
        ),
        (
            "pairs-bad-json",
            ("pairs", "--scorer", "judge:openai:j", "-d", "{file}", "--db", "{db}", "-o", "{out}"),
        ),
        ("score-label-回复3", ("mc", "score", "{file}", "--out", "{out}")),
        ("import-csv-bad-verdict", ("annotate", "import", "{file}", "--db", "{db}")),
        ("import-xlsx-score-11", ("annotate", "import", "{file}", "--db", "{db}")),
        ("human-bad-verdict", ("judge-eval", "--human", "{file}", "--judge", "{judge}", "--out", "{out}")),
    ],
)
def test_through_the_cli_exit_2_one_line_nothing_written(
    tmp_path: Path, case_id: str, command: tuple[str, ...]
) -> None:
    from cli_support import cli_env, run_cli

    case = next(case for case in ALL_CASES if case.id == case_id)
    path = _write(tmp_path, case)
    judge = tmp_path / "judge-run"  # a well-formed judge run: the human file is what is wrong
    judge.mkdir()
    (judge / "samples.jsonl").write_text('{"id": "r1", "parsed": true, "label": "safe"}\n', encoding="utf-8")
    (judge / "results.json").write_text('{"task": "judge"}', encoding="utf-8")
    db_file, out = tmp_path / "store.db", tmp_path / "out"
    args = [part.format(file=path, db=f"sqlite:///{db_file}", judge=judge, out=out) for part in command]
    env = cli_env(tmp_path / "cache", OPENAI_API_KEY="not-used")
    result = run_cli(*args, env=env, cwd=tmp_path, timeout=120)
    assert result.code == 2, (result.stdout, result.stderr)
    lines = [row for row in result.stderr.splitlines() if row.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith(f"error: {path}:{case.line}: "), lines[0]
    assert not out.exists()
    if case.reader == "import":  # the store was opened (and migrated), but holds nothing of the file
        assert set(_annotation_rows(f"sqlite:///{db_file}").values()) == {0}
    else:
        assert not db_file.exists()


def test_import_of_a_task_the_store_holds_as_another_kind_changes_nothing(tmp_path: Path) -> None:
    from cvalues.annotate import Accounts, TaskStore, import_labels
    from cvalues.store import open_store

    db = f"sqlite:///{tmp_path / 'store.db'}"
    store = open_store(db)
    tasks, accounts = TaskStore(store.engine), Accounts(store.engine)
    good = tmp_path / "good.jsonl"
    good.write_bytes(_jsonl(_EXPORT_ROW))
    assert import_labels(tasks, accounts, good)["labels"] == 1
    before = _annotation_rows(db)
    bad = tmp_path / "bad.jsonl"
    # Line 1 is a new task (fine on its own); line 2 says t1 is a responsibility task.
    bad.write_bytes(
        _jsonl(
            {**_EXPORT_ROW, "task": "t9", "item_key": "k9"},
            {**_EXPORT_ROW, "kind": "responsibility", "label": json.dumps({"score": 5})},
        )
    )
    with pytest.raises(InputError) as caught:
        import_labels(tasks, accounts, bad)
    assert str(caught.value) == f"{bad}:2: task 't1' is a safety task in the store, not responsibility"
    assert _annotation_rows(db) == before and tasks.get_task("t9") is None
