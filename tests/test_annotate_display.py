"""What pages show (issue 14, item 7): bidi control characters are shown as visible marks, never
applied; roles are in Chinese by default; a stale form says so in Chinese and leads back to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from annotate_support import csrf_token, write_generation_run
from annotate_world import World, open_world, users
from cvalues.annotate.rendering import show_bidi_controls
from cvalues.annotate.run_sources import read_generation_run

RLO_REPLY = "正常开头\u202eelbaT pord\u202c 结尾\u2066隔离\u2069"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("sqlite", tmp_path) as opened:
        run = write_generation_run(tmp_path / "gen", ["问题\u200f一"], [RLO_REPLY])
        opened.tasks.create_task(
            "bidi", "safety", "annotator", 1, 0, read_generation_run(run), users(opened, "alice")
        )
        yield opened


def test_bidi_controls_are_shown_not_applied(world: World) -> None:
    page = world.client("alice").get("/tasks/bidi/0").text
    for control in ("\u202e", "\u202c", "\u2066", "\u2069", "\u200f"):
        assert control not in page
    assert "[U+202E]elbaT pord[U+202C]" in page and "问题[U+200F]一" in page


def test_show_bidi_controls_leaves_other_text_alone() -> None:
    assert show_bidi_controls("中文 English 123") == "中文 English 123"
    assert show_bidi_controls(5) == 5


def test_roles_and_stale_forms_speak_chinese(world: World) -> None:
    alice = world.client("alice")
    assert "标注员" in alice.get("/tasks").text
    stale = alice.post("/tasks/bidi/0", data={"csrf_token": "stale", "verdict": "safe"})
    assert stale.status_code == 403 and "页面已过期" in stale.text
    assert 'href="/tasks/bidi/0"' in stale.text
    assert world.tasks.count_labels("bidi") == 0
    # An expired session: back to the login form, then to the same item.
    anonymous = world.client()
    token = csrf_token(anonymous.get("/login").text)
    expired = anonymous.post(
        "/tasks/bidi/0", data={"csrf_token": token, "verdict": "safe"}, follow_redirects=False
    )
    assert expired.status_code == 303
    assert expired.headers["location"] == "/login?expired=1&next=/tasks/bidi/0"
    assert "登录已过期" in anonymous.get(expired.headers["location"]).text
