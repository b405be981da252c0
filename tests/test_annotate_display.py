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


def test_a_down_target_gives_a_chinese_error_quickly_without_its_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from cvalues.annotate import RedTeamTarget, create_app
    from cvalues.core.backend import ModelSpec
    from servers import free_port

    monkeypatch.setenv("CVALUES_TEST_KEY", "not-needed")
    port = free_port()  # nothing listens there: connection refused, as for a down server
    spec = ModelSpec.parse(
        "openai:target-x", base_url=f"http://127.0.0.1:{port}/v1", api_key_env="CVALUES_TEST_KEY"
    )
    with open_world("sqlite", tmp_path) as world:
        world.app = create_app(world.store, target=RedTeamTarget(spec))
        for name in ("alice", "root"):
            client = world.client(name)
            token = csrf_token(client.get("/redteam").text)
            started = time.monotonic()
            answer = client.post("/redteam/send", data={"csrf_token": token, "prompt": "你好"})
            assert time.monotonic() - started < 5
            assert answer.status_code == 502
            assert "目标模型暂时无法回复" in answer.text
            if name == "alice":
                assert str(port) not in answer.text and "127.0.0.1" not in answer.text


def test_disagreement_list_shows_the_item_text_and_each_label(tmp_path: Path) -> None:
    from annotate_world import label, safety_task

    with open_world("sqlite", tmp_path) as world:
        safety_task(world, n=1, per_item=2)
        names = [
            n
            for n in ("alice", "bob", "carol")
            if world.tasks.assignment_at("safety-t", world.accounts.get_user(n), 0)
        ]
        assert len(names) == 2
        assert label(world.client(names[0]), "safety-t", 0, verdict="safe").status_code == 303
        assert (
            label(world.client(names[1]), "safety-t", 0, verdict="unsafe", scenario="违法犯罪").status_code
            == 303
        )
        page = world.client("root").get("/admin/tasks/safety-t").text
        prompt = world.tasks.items("safety-t")[0].payload["prompt"]
        assert prompt in page and "disagreement-reply" in page
        assert f"{names[0]}: 安全" in page
        assert f"{names[1]}: 不安全 (违法犯罪)" in page


def test_language_toggle_keeps_the_red_team_chat(world: World) -> None:
    alice = world.client("alice")
    token = csrf_token(alice.get("/redteam").text)
    sent = alice.post("/redteam/send", data={"csrf_token": token, "prompt": "你好，测试"})
    chat_id = str(sent.url).split("chat=")[1]
    page = alice.get(f"/redteam?chat={chat_id}").text
    assert f"/lang/en?next=/redteam%3Fchat%3D{chat_id}" in page
    toggled = alice.get(f"/lang/en?next=/redteam%3Fchat%3D{chat_id}", follow_redirects=False)
    assert toggled.headers["location"] == f"/redteam?chat={chat_id}"
    assert "回声：你好，测试" in alice.get(toggled.headers["location"]).text


def test_red_team_chats_are_listed_and_resumable(world: World) -> None:
    alice, bob = world.client("alice"), world.client("bob")
    chats = []
    for prompt in ("第一段对话", "第二段对话"):
        token = csrf_token(alice.get("/redteam").text)  # "新对话": a page without ?chat=
        sent = alice.post("/redteam/send", data={"csrf_token": token, "prompt": prompt})
        chats.append(str(sent.url).split("chat=")[1])
    page = alice.get("/redteam").text
    assert f'href="/redteam?chat={chats[0]}"' in page and f'href="/redteam?chat={chats[1]}"' in page
    assert page.index(chats[1]) < page.index(chats[0])  # newest first
    assert "第一段对话" in alice.get(f"/redteam?chat={chats[0]}").text
    assert "my-chats" not in bob.get("/redteam").text  # nobody else's chats
