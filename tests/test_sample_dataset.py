"""Checks of the bundled sample file and the built-in MC templates, read with plain json.

These validate the data files themselves, independently of the loaders that read them (and of
whether the package is installed).
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PATH = REPO_ROOT / "src" / "cvalues" / "data" / "sample" / "mc_sample.jsonl"
TEMPLATE_DIR = REPO_ROOT / "src" / "cvalues" / "tasks" / "templates"

FIELDS = {"id", "question", "better", "worse", "domain", "level", "scenario"}
# The 8 CValues responsibility domains, as keyed in cvalues.data.items.DOMAINS.
EXPECTED_DOMAINS = {
    "environmental_science",
    "psychology",
    "law",
    "social_science",
    "data_science",
    "intimate_relationship",
    "barrier_free",
    "lesser_known_major",
}
SCENARIOS = {"危险话题", "违法犯罪", "个人隐私", "身心健康", "偏见歧视", "伦理道德", "谣言虚假", "色情低俗"}
# A full MC prompt should stay short enough for small local models' context and for quick runs.
MAX_PROMPT_CHARS = 600
CJK = re.compile(r"[\u4e00-\u9fff]")


def _rows() -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(SAMPLE_PATH.read_text(encoding="utf-8").splitlines(), start=1):
        assert line.strip(), f"blank line {number}"
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:  # name the line instead of dumping its content
            pytest.fail(f"line {number} is not JSON: {exc}")
    return rows


ROWS = _rows()


def _template(name: str) -> str:
    return (TEMPLATE_DIR / f"{name}.txt").read_text(encoding="utf-8")


def test_every_row_has_exactly_the_required_fields_with_the_right_types() -> None:
    assert len(ROWS) >= 32
    for row in ROWS:
        assert set(row) == FIELDS, row.get("id")
        for key in ("id", "question", "better", "worse"):
            assert isinstance(row[key], str) and row[key].strip(), (row["id"], key)
        assert row["level"] in {"responsibility", "safety"}, row["id"]


def test_file_is_utf8_with_chinese_kept_as_is() -> None:
    raw = SAMPLE_PATH.read_bytes()
    raw.decode("utf-8")  # raises if not UTF-8
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    assert b"\\u" not in raw, "Chinese must be written as is, not as \\u escapes"
    for row in ROWS:
        assert CJK.search(row["question"]) and CJK.search(row["better"]), row["id"]


def test_ids_are_unique_and_well_formed() -> None:
    ids = [row["id"] for row in ROWS]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"s\d{2}", i) for i in ids)


def test_questions_are_not_duplicated_and_replies_differ() -> None:
    questions = [row["question"] for row in ROWS]
    assert len(set(questions)) == len(questions)
    for row in ROWS:
        assert row["better"] != row["worse"], row["id"]


def test_responsibility_rows_cover_each_domain_three_times() -> None:
    responsibility = [row for row in ROWS if row["level"] == "responsibility"]
    for row in responsibility:
        assert row["domain"] in EXPECTED_DOMAINS, row["id"]
        assert row["scenario"] is None, row["id"]
    assert Counter(row["domain"] for row in responsibility) == {domain: 3 for domain in EXPECTED_DOMAINS}


def test_safety_rows_have_a_scenario_and_no_domain() -> None:
    safety = [row for row in ROWS if row["level"] == "safety"]
    assert len(safety) >= 8
    for row in safety:
        assert row["domain"] is None, row["id"]
        assert row["scenario"] in SCENARIOS, row["id"]
    assert {row["scenario"] for row in safety} == SCENARIOS


@pytest.mark.parametrize("name", ["mc_zh", "mc_en"])
def test_template_has_exactly_the_three_placeholders(name: str) -> None:
    fields = {field for _, field, _, _ in string.Formatter().parse(_template(name)) if field is not None}
    assert fields == {"question", "reply1", "reply2"}


@pytest.mark.parametrize("name", ["mc_zh", "mc_en"])
def test_template_ends_by_asking_for_reply1_or_reply2(name: str) -> None:
    last_line = _template(name).strip().splitlines()[-1]
    assert "回复1" in last_line and "回复2" in last_line
    assert "{" not in last_line  # the request comes after both replies, not inside them


@pytest.mark.parametrize("name", ["mc_zh", "mc_en"])
def test_template_shows_the_replies_in_order(name: str) -> None:
    text = _template(name)
    assert text.index("{question}") < text.index("{reply1}") < text.index("{reply2}")


def test_rendered_zh_prompts_stay_under_the_length_bound() -> None:
    template = _template("mc_zh")
    for row in ROWS:
        for reply1, reply2 in ((row["better"], row["worse"]), (row["worse"], row["better"])):
            prompt = template.format(question=row["question"], reply1=reply1, reply2=reply2)
            assert row["question"] in prompt and reply1 in prompt
            assert len(prompt) <= MAX_PROMPT_CHARS, f"{row['id']}: {len(prompt)} characters"
