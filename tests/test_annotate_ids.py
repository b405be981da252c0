"""Every path id is validated (issue 14, item 5): malformed and out-of-range ids answer 404, never
500; one task-id grammar for add-task, import, export and URLs; export writes only where asked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotate_support import csrf_token
from annotate_world import World, open_world, safety_task
from cli_support import run_cli
from cvalues.annotate.ids import is_task_id


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("sqlite", tmp_path) as opened:
        safety_task(opened)
        yield opened


HUGE = "99999999999999999999"
BAD_GETS = [
    f"/tasks/safety-t/{HUGE}",
    "/tasks/safety-t/-1",
    "/tasks/safety-t/abc",
    "/tasks/safety-t/1e3",
    f"/tasks/safety-t/{2**63}",
    "/tasks/..%2F..%2Fetc/0",
    "/tasks/.hidden",
]
ADMIN_GETS = [
    f"/admin/tasks/safety-t/items/{HUGE}",
    "/admin/tasks/safety-t/items/-5",
    "/admin/tasks/safety-t/items/x",
    "/admin/tasks/%20bad/items/1",
]


@pytest.mark.parametrize("path", BAD_GETS)
def test_bad_annotator_ids_are_404(world: World, path: str) -> None:
    client = world.client("alice")
    assert client.get(path).status_code == 404
    page = client.get("/tasks/safety-t/0")
    posted = client.post(path, data={"csrf_token": csrf_token(page.text), "verdict": "safe"})
    assert posted.status_code in (404, 405)


@pytest.mark.parametrize("path", ADMIN_GETS)
def test_bad_admin_ids_are_404(world: World, path: str) -> None:
    client = world.client("root")
    assert client.get(path).status_code == 404
    page = client.get("/admin")
    assert client.post(path, data={"csrf_token": csrf_token(page.text)}).status_code == 404


def test_bad_turn_ids_are_404(world: World) -> None:
    client = world.client("alice")
    token = csrf_token(client.get("/redteam").text)
    for turn in (HUGE, "-1", "x"):
        answer = client.post(f"/redteam/turns/{turn}", data={"csrf_token": token, "verdict": "unsafe"})
        assert answer.status_code == 404, turn
    # Keep-alive survives: the same client goes on working.
    assert client.get("/tasks").status_code == 200


@pytest.mark.parametrize("task_id", ["../../tmp/x/evil", ".hidden", "a/b", "a b", "", "x" * 65, "-x"])
def test_task_id_grammar_refuses(task_id: str) -> None:
    assert not is_task_id(task_id)


@pytest.mark.parametrize("task_id", ["safety-t", "安全评测_v1.2", "_x", "mc-review-0a1b2c3d"])
def test_task_id_grammar_accepts(task_id: str) -> None:
    assert is_task_id(task_id)


def _export_row(task_id: str) -> dict[str, object]:
    return {
        "task": task_id,
        "kind": "safety",
        "item_key": "k1",
        "item": {"prompt": "问题", "response": "回复"},
    }


def test_import_refuses_a_path_as_task_id(tmp_path: Path) -> None:
    bad = tmp_path / "evil.jsonl"
    bad.write_text(json.dumps(_export_row("../../tmp/x/evil"), ensure_ascii=False) + "\n", encoding="utf-8")
    done = run_cli("annotate", "import", bad, "--db", f"sqlite:///{tmp_path / 'c.db'}", cwd=tmp_path)
    assert done.code == 2
    assert "evil.jsonl" in done.stderr and "evil.jsonl:1:" in done.stderr and "task id" in done.stderr


def test_export_refuses_a_path_as_task_id(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = run_cli("annotate", "export", "../evil", "--db", f"sqlite:///{tmp_path / 'c.db'}", cwd=work)
    assert done.code == 2
    assert "task id" in done.stderr
    assert not (tmp_path / "evil.jsonl").exists()
