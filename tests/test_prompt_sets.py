"""Free-form prompt sets: the real published files (counts, levels, scenarios), the bundled sets, a user's
files through --field mappings, and every malformed input as one InputError line.

Safety prompts are harmful by design: these tests compare counts and labels, never print prompts.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pytest

from cvalues.core.errors import DataIntegrityError, InputError
from cvalues.data.encoding import sha256_file
from cvalues.data.items import DOMAINS
from cvalues.data.prompt_published import scenario_top
from cvalues.data.prompt_sets import (
    PROMPT_FORMATS,
    PromptDataset,
    load_prompt_dataset,
    prompt_dataset_names,
)
from data_support import PROMPTS_FILE, SHARED_DATA, go_offline

XSAFETY = SHARED_DATA / "xsafety-zh"
CHISAFETY = SHARED_DATA / "chisafetybench"


@pytest.fixture(autouse=True)
def offline_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return go_offline(tmp_path, monkeypatch)


def _load(relative: str) -> PromptDataset:
    return load_prompt_dataset(str(SHARED_DATA / relative))


# ---- the published sets: counts from shared/data/README.md ------------------------------------------

PUBLISHED = [
    (
        "cvalues-responsibility-prompts/cvalues_responsibility_prompts.jsonl",
        "cvalues-prompts",
        664,
        "responsibility",
    ),
    ("100poisonmpts/100poison.jsonl", "100poison", 906, "responsibility"),
    ("jade-db/jade_benchmark_zh.csv", "jade-benchmark", 150, "safety"),
    ("jade-db/jade_benchmark_easy_zh.csv", "jade-benchmark", 1000, "safety"),
    ("jade-db/jade_benchmark_medium_zh.csv", "jade-benchmark", 1000, "safety"),
    ("jade-db/jade_alignment_hard_zh.csv", "jade-alignment", 150, "safety"),
    ("flames/Flames_1k_Chinese.jsonl", "flames", 1000, "safety"),
    ("chisafetybench/risky_questions_without_dialog_history.json", "chisafety", 462, "safety"),
    ("chisafetybench/risky_questions_with_dialog_history.json", "chisafety-history", 101, "safety"),
    ("xsafety-zh/Insult.csv", "xsafety", 200, "safety"),
    ("xsafety-zh", "xsafety", 14 * 200, "safety"),
]


@pytest.mark.parametrize(("relative", "fmt", "count", "level"), PUBLISHED, ids=[row[0] for row in PUBLISHED])
def test_published_set_is_read_whole(relative: str, fmt: str, count: int, level: str) -> None:
    dataset = _load(relative)
    assert (dataset.format, dataset.n_items) == (fmt, count)
    assert {item.level for item in dataset.items} == {level}
    assert len({item.id for item in dataset.items}) == count
    assert all(item.prompt.strip() for item in dataset.items)
    if (SHARED_DATA / relative).is_file():
        assert dataset.sha256 == sha256_file(SHARED_DATA / relative)


def test_official_responsibility_prompts_keep_their_domains_and_ids() -> None:
    dataset = load_prompt_dataset(str(PROMPTS_FILE))
    assert dataset.name == "cvalues-responsibility-prompts"  # recognised by its digest
    assert dataset.sha256 == "ee99050d4a8933829697c796e279b83795838feacefc84cdd06856bad01bfff4"
    assert Counter(item.domain for item in dataset.items) == {
        "environmental_science": 100,
        "psychology": 100,
        "barrier_free": 100,
        "social_science": 96,
        "data_science": 95,
        "law": 93,
        "intimate_relationship": 70,
        "lesser_known_major": 10,
    }
    assert [item.id for item in dataset.items[:3]] == ["1", "2", "3"]
    assert {item.scenario for item in dataset.items} == {None}


def test_official_prompts_by_registry_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CVALUES_DATA_DIR", str(SHARED_DATA))
    dataset = load_prompt_dataset("cvalues-responsibility-prompts")
    assert (dataset.name, dataset.n_items, dataset.format) == (
        "cvalues-responsibility-prompts",
        664,
        "cvalues-prompts",
    )
    assert dataset.source.startswith("https://raw.githubusercontent.com/X-PLUG/CValues/")
    assert "cvalues-responsibility-prompts" in prompt_dataset_names()


def test_registry_name_offline_without_data_is_an_input_error() -> None:
    with pytest.raises(InputError, match="cannot download"):
        load_prompt_dataset("cvalues-responsibility-prompts")


def test_an_mc_set_is_not_a_prompt_set() -> None:
    with pytest.raises(InputError, match="not a prompt set") as error:
        load_prompt_dataset("cvalues-responsibility-mc")
    assert error.value.flag == "--dataset"


def test_100poison_keeps_the_english_domain_and_the_expert_answer() -> None:
    items = _load("100poisonmpts/100poison.jsonl").items
    assert Counter(item.domain for item in items)["autism"] == 168
    assert Counter(item.domain for item in items)["environmental_science"] == 167
    assert set(DOMAINS) < {item.domain for item in items}
    assert all(len(item.references) == 1 and item.references[0].strip() for item in items)


def test_jade_benchmark_scenario_is_type_and_subtype() -> None:
    items = _load("jade-db/jade_benchmark_zh.csv").items
    assert all(item.scenario and item.scenario.count("/") == 1 for item in items)
    assert Counter(scenario_top(item.scenario) for item in items) == {
        "违法犯罪": 76,
        "侵犯权益": 47,
        "歧视偏见": 27,
    }
    assert len({item.scenario for item in items}) == 34
    assert {item.should_answer for item in items} == {None}


def test_jade_alignment_as_prompts_has_the_safe_answer_as_reference() -> None:
    items = _load("jade-db/jade_alignment_hard_zh.csv").items
    assert {item.scenario for item in items} == {"hard"}
    assert all(len(item.references) == 1 for item in items)


def test_xsafety_folder_is_fourteen_categories_of_two_hundred() -> None:
    dataset = load_prompt_dataset(str(XSAFETY))
    assert (dataset.name, dataset.format) == ("xsafety-zh", "xsafety")
    assert Counter(item.scenario for item in dataset.items) == {
        path.stem: 200 for path in XSAFETY.glob("*.csv")
    }
    # The folder's digest is that of its sha256sum manifest, i.e. of the SHA256SUMS shipped with it.
    assert dataset.sha256 == sha256_file(XSAFETY / "SHA256SUMS")
    assert dataset.items[0].id == "Crimes_And_Illegal_Activities-1"
    assert not any(item.prompt.startswith("\ufeff") or item.prompt.endswith("\r") for item in dataset.items)


def test_xsafety_folder_with_a_changed_file_fails_its_checksum(tmp_path: Path) -> None:
    folder = tmp_path / "xsafety"
    shutil.copytree(XSAFETY, folder)
    (folder / "Insult.csv").chmod(0o644)
    with (folder / "Insult.csv").open("ab") as handle:
        handle.write("\n再加一行".encode())
    with pytest.raises(DataIntegrityError) as error:
        load_prompt_dataset(str(folder))
    assert error.value.path == str(folder / "Insult.csv")


def test_flames_scenario_is_dimension_and_subcomponent() -> None:
    items = _load("flames/Flames_1k_Chinese.jsonl").items
    assert Counter(scenario_top(item.scenario) for item in items) == {
        "Safety": 429,
        "Fairness": 249,
        "Morality": 201,
        "Data protection": 75,
        "Legality": 46,
    }
    assert len({item.scenario for item in items}) == 12


def test_chisafetybench_single_turn_should_be_refused() -> None:
    items = _load("chisafetybench/risky_questions_without_dialog_history.json").items
    assert {item.should_answer for item in items} == {False}
    assert len({item.scenario for item in items}) == 17
    assert [item.id for item in items[:2]] == ["1", "2"]
    assert all(not item.history for item in items)


def test_chisafetybench_multi_turn_keeps_its_history() -> None:
    items = _load("chisafetybench/risky_questions_with_dialog_history.json").items
    assert {item.should_answer for item in items} == {False}
    assert Counter(len(item.history) for item in items) == {9: 56, 7: 27, 11: 7, 13: 5, 3: 3, 5: 2, 15: 1}
    assert {item.history[0][0] for item in items} == {"system"}
    assert {item.history[-1][0] for item in items} == {"assistant"}
    assert {scenario_top(item.scenario) for item in items} == {"违背价值观", "歧视性内容"}


# ---- the bundled sets -------------------------------------------------------------------------------


def test_bundled_prompt_sample_covers_the_domains_and_scenarios() -> None:
    dataset = load_prompt_dataset("sample")
    assert dataset.source == "bundled:cvalues/data/sample/prompts_sample.jsonl"
    responsibility = [item for item in dataset.items if item.level == "responsibility"]
    safety = [item for item in dataset.items if item.level == "safety"]
    assert sorted(item.domain for item in responsibility) == sorted(DOMAINS)
    assert len(safety) == 8 and len({item.scenario for item in safety}) == 8
    assert all(item.domain is None for item in safety)
    assert sum(1 for item in dataset.items if item.references) >= 2
    assert sum(1 for item in dataset.items if item.history) >= 1


def test_bundled_should_answer_set() -> None:
    dataset = load_prompt_dataset("should-answer-zh")
    assert dataset.n_items >= 30
    assert {item.should_answer for item in dataset.items} == {True}
    assert {item.level for item in dataset.items} == {"safety"}
    assert all(item.scenario for item in dataset.items)
    assert len({item.prompt for item in dataset.items}) == dataset.n_items


def test_bundled_prompts_are_written_for_the_project_not_copied() -> None:
    published: set[str] = set()
    for relative, *_ in PUBLISHED:
        published.update(item.prompt.strip() for item in _load(relative).items)
    for name in ("sample", "should-answer-zh"):
        copied = [item.id for item in load_prompt_dataset(name).items if item.prompt.strip() in published]
        assert copied == [], name


# ---- a user's own files -----------------------------------------------------------------------------


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def test_generic_jsonl_with_a_field_mapping(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "mine.jsonl",
        [
            {"编号": "a", "问题": "怎样安全地处理过期药品？", "应答": "是", "场景": "健康常识"},
            {"编号": "b", "问题": "如何和孩子谈论性教育？", "应答": False, "领域": "psychology"},
            {"编号": "c", "问题": "你好", "level": "responsibility", "参考": ["答一", "答二"]},
        ],
    )
    fields = {"prompt": "问题", "id": "编号", "should_answer": "应答", "scenario": "场景", "domain": "领域"}
    fields["reference"] = "参考"
    dataset = load_prompt_dataset(str(path), fields=fields)
    first, second, third = dataset.items
    assert (dataset.name, dataset.format, dataset.sha256) == ("mine", "generic", sha256_file(path))
    assert (first.id, first.level, first.scenario, first.should_answer) == ("a", "safety", "健康常识", True)
    assert (second.level, second.domain, second.should_answer) == ("responsibility", "psychology", False)
    assert (third.level, third.references) == ("responsibility", ("答一", "答二"))


def test_generic_csv_uses_our_field_names_without_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "prompts.csv"
    path.write_text(
        'id,prompt,level,scenario\n1,问题一,safety,违法犯罪\n2,"问题二，带逗号",,\n', encoding="gb18030"
    )
    items = load_prompt_dataset(str(path)).items
    assert [(item.id, item.prompt, item.level, item.scenario) for item in items] == [
        ("1", "问题一", "safety", "违法犯罪"),
        ("2", "问题二，带逗号", "safety", None),
    ]


def test_generic_xlsx_with_history_and_excel_booleans(tmp_path: Path) -> None:
    path = tmp_path / "prompts.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["prompt", "should_answer", "history"])
    sheet.append(
        [
            "继续说",
            1,
            json.dumps([{"role": "user", "content": "在吗"}, {"role": "assistant", "content": "在"}]),
        ]
    )
    sheet.append(["第二题", 0, None])
    workbook.save(path)
    first, second = load_prompt_dataset(str(path)).items
    assert (first.id, first.should_answer, first.history) == (
        "2",
        True,
        (("user", "在吗"), ("assistant", "在")),
    )
    assert (second.id, second.should_answer, second.history) == ("3", False, ())


def test_plain_text_file_is_one_prompt_per_line(tmp_path: Path) -> None:
    path = tmp_path / "redteam.txt"
    path.write_bytes("\ufeff第一条\r\n\r\n第二条，有逗号\r\n".encode())
    dataset = load_prompt_dataset(str(path))
    assert dataset.format == "lines"
    assert [(item.id, item.prompt, item.scenario) for item in dataset.items] == [
        ("1", "第一条", None),
        ("3", "第二条，有逗号", None),
    ]


def test_format_can_be_forced(tmp_path: Path) -> None:
    path = tmp_path / "my_category.csv"
    path.write_text("问题甲\n问题乙\n", encoding="utf-8")
    dataset = load_prompt_dataset(str(path), fmt="xsafety")
    assert [(item.id, item.scenario) for item in dataset.items] == [
        ("my_category-1", "my_category"),
        ("my_category-2", "my_category"),
    ]
    assert set(PROMPT_FORMATS) >= {"cvalues-prompts", "100poison", "jade-benchmark", "flames", "generic"}


# ---- malformed input: one InputError naming the file and line ---------------------------------------


@dataclass(frozen=True)
class Bad:
    id: str
    filename: str
    content: bytes | Callable[[Path], None]
    match: str
    line: int | None
    fields: dict[str, str] | None = None
    fmt: str | None = None


def _rows(*rows: object) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _xlsx_without_prompts(path: Path) -> None:
    workbook = openpyxl.Workbook()
    workbook.active.append(["问题", "类别"])
    workbook.active.append(["问", "甲"])
    workbook.save(path)


CHISAFETY_BAD = json.dumps(
    [{"category": "应拒答", "infos": [{"id": 1, "question": "问一"}, {"id": 2, "question": ""}]}],
    ensure_ascii=False,
    indent=4,
).encode("utf-8")

BAD = [
    Bad("empty-file", "p.jsonl", b"", "no rows", None),
    Bad("blank-lines-only", "p.jsonl", b"\n\n  \n", "no rows", None),
    Bad("empty-text-file", "p.txt", b"\n \n", "no prompts", None),
    Bad("no-prompt-column", "p.jsonl", _rows({"question": "问"}), "no prompt column 'prompt'.*'question'", 1),
    Bad(
        "mapped-column-missing",
        "p.jsonl",
        _rows({"prompt": "问"}),
        "no prompt column '题目'",
        1,
        {"prompt": "题目"},
    ),
    Bad(
        "prompt-missing-later",
        "p.jsonl",
        _rows({"prompt": "问"}, {"text": "问"}),
        "missing field 'prompt'",
        2,
    ),
    Bad("prompt-empty", "p.jsonl", _rows({"prompt": "问"}, {"prompt": "  "}), "field 'prompt'.* is empty", 2),
    Bad("prompt-not-text", "p.jsonl", _rows({"prompt": ["问"]}), "must be a string", 1),
    Bad("bad-json", "p.jsonl", b'{"prompt": "a"}\n{"prompt": \n', "invalid JSON", 2),
    Bad(
        "bad-should-answer", "p.jsonl", _rows({"prompt": "问", "should_answer": "maybe"}), "should_answer", 1
    ),
    Bad("bad-level", "p.jsonl", _rows({"prompt": "问", "level": "medium"}), "level must be", 1),
    Bad(
        "duplicate-id",
        "p.jsonl",
        _rows({"id": 1, "prompt": "a"}, {"id": 1, "prompt": "b"}),
        "duplicate id",
        2,
    ),
    Bad(
        "bad-history",
        "p.jsonl",
        _rows({"prompt": "问", "history": [{"role": "bot", "content": "x"}]}),
        "history\\[0\\] has role 'bot'",
        1,
    ),
    Bad("history-not-list", "p.jsonl", _rows({"prompt": "问", "history": "你好"}), "must be a list", 1),
    Bad("bad-reference", "p.jsonl", _rows({"prompt": "问", "reference": 3}), "reference", 1),
    Bad("xlsx-without-prompts", "p.xlsx", _xlsx_without_prompts, "no prompt column", 2),
    Bad("csv-ragged", "p.csv", "prompt,scenario\n问,甲,乙\n".encode(), "has 3 fields", 2),
    Bad(
        "poison-domain-not-list",
        "p.jsonl",
        _rows({"instruction": "问", "output": "答", "domain": "law"}),
        "'domain' must be a non-empty list",
        1,
    ),
    Bad(
        "cvalues-empty-prompt", "p.jsonl", _rows({"id_": 1, "prompt": "", "domain_en": "law"}), "is empty", 1
    ),
    Bad(
        "jade-missing-question",
        "p.csv",
        "ID,问题,违规类型,违规子类\n1,,违法犯罪,诈骗\n".encode(),
        "is empty",
        2,
    ),
    Bad("chisafety-empty-question", "p.json", CHISAFETY_BAD, "field 'question' is empty", 11),
    Bad(
        "chisafety-history-turn",
        "p.json",
        json.dumps([{"input": "问", "history": [["user"]]}]).encode(),
        "history\\[0\\]",
        1,
    ),
    Bad("not-utf8-nor-gb18030", "p.jsonl", b"\xff\xfe\xfa\xfb", "neither UTF-8 nor GB18030", None),
]


@pytest.mark.parametrize("case", BAD, ids=[case.id for case in BAD])
def test_malformed_prompt_file(tmp_path: Path, case: Bad) -> None:
    path = tmp_path / case.filename
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)
    with pytest.raises(InputError, match=case.match) as error:
        load_prompt_dataset(str(path), fields=case.fields, fmt=case.fmt)
    assert error.value.path == str(path)
    assert error.value.line == case.line
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "flag", "match"),
    [
        ({"fields": {"question": "问题"}}, "--field", "unknown field 'question'"),
        ({"fields": {"prompt": ""}}, "--field", "empty column name"),
        ({"fields": {"prompt": "问题"}, "fmt": "flames"}, "--field", "apply to generic files"),
        ({"fmt": "yaml"}, "--format", "unknown format"),
    ],
)
def test_bad_options_name_the_flag(tmp_path: Path, kwargs: dict[str, object], flag: str, match: str) -> None:
    path = _jsonl(tmp_path / "p.jsonl", [{"prompt": "问"}])
    with pytest.raises(InputError, match=match) as error:
        load_prompt_dataset(str(path), **kwargs)  # type: ignore[arg-type]
    assert error.value.flag == flag


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="neither a prompt set name") as error:
        load_prompt_dataset(str(tmp_path / "nope.jsonl"))
    assert error.value.flag == "--dataset"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no \.csv or \.txt") as error:
        load_prompt_dataset(str(tmp_path / "empty"))
    assert error.value.path == str(tmp_path / "empty")


def test_bad_sums_file_names_its_line(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "a.csv").write_text("问题\n", encoding="utf-8")
    digest = hashlib.sha256(b"x").hexdigest()
    (folder / "SHA256SUMS").write_text(f"{digest}  b.csv\nnot a checksum line\n", encoding="utf-8")
    with pytest.raises(InputError, match="expected '<sha256>  <file name>'") as error:
        load_prompt_dataset(str(folder))
    assert (error.value.path, error.value.line) == (str(folder / "SHA256SUMS"), 2)
