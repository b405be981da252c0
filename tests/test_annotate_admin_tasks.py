"""Admins create, close and reopen annotation tasks in the web app (issue 14, item 8), through HTTP
(FastAPI's TestClient) on SQLite and a real PostgreSQL.

A task made on the admin page goes through the same ``create_task_from_runs`` as
``cvalues annotate add-task``: the same task-id grammar, kinds, roles and people checks, with the
refusals in Chinese. A closed task disappears from annotators' lists and refuses labels (409),
while agreement and exports still work; reopening brings it back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from annotate_support import csrf_token, simple_run, write_mc_run
from annotate_world import BACKENDS, World, label, open_world, safety_task
from cvalues.annotate import export_task
from cvalues.annotate.agreement_report import task_agreement
from cvalues.annotate.task_store import TaskClosed
from cvalues.annotate.user_errors import ERROR_TEXTS, UserInputError
from cvalues.cli import annotate as annotate_cli
from cvalues.core.errors import InputError


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as opened:
        yield opened


def _files(run_dir: Path, slot: int = 1, *, results: bool = True) -> list[tuple[str, Any]]:
    files = [
        (f"samples_{slot}", ("samples.jsonl", (run_dir / "samples.jsonl").read_bytes(), "application/json"))
    ]
    if results:
        files.append(
            (f"results_{slot}", ("results.json", (run_dir / "results.json").read_bytes(), "application/json"))
        )
    return files


def _create(world: World, fields: dict[str, Any], files: list[tuple[str, Any]] | None = None) -> Any:
    admin = world.client("root")
    token = csrf_token(admin.get("/admin/new-task").text)
    data = {"csrf_token": token, "role": "annotator", "per_item": "1", "seed": "0", **fields}
    return admin.post("/admin/tasks", data=data, files=files or [], follow_redirects=False)


def test_an_admin_creates_a_task_from_uploaded_run_files(world: World) -> None:
    run = simple_run(world.tmp / "gen", 5)
    form = world.client("root").get("/admin").text
    assert 'href="/admin/new-task"' in form
    created = _create(
        world,
        {"kind": "safety", "name": "安全-第一批", "per_item": "2", "annotators": ["alice", "bob"]},
        _files(run),
    )
    assert created.status_code == 303, created.text
    assert unquote(created.headers["location"]) == "/admin/tasks/安全-第一批?created=1"
    task = world.tasks.get_task("安全-第一批")
    assert task is not None and task.kind == "safety" and task.per_item == 2 and task.is_open
    assert task.meta["models"] == ["openai:secret-model-x"]  # from the uploaded results.json
    assert task.source.startswith("upload:samples.jsonl@")
    assert len(world.tasks.items(task.id)) == 5
    people = {p.annotator: p.total for p in world.tasks.progress_for_task(task.id)}
    assert people == {"alice": 5, "bob": 5}  # 5 items x 2 people, only those ticked
    page = world.client("root").get(created.headers["location"])
    assert page.status_code == 200 and 'id="task-created"' in page.text
    # The annotator sees it and can label it.
    assert "安全-第一批" in world.client("alice").get("/tasks").text
    assert label(world.client("alice"), "安全-第一批", 0, verdict="safe").status_code == 303


def test_pasted_samples_and_pairwise_uploads(world: World) -> None:
    run = simple_run(world.tmp / "gen", 3)
    pasted = _create(
        world, {"kind": "responsibility", "samples_text": (run / "samples.jsonl").read_text("utf-8")}
    )
    assert pasted.status_code == 303, pasted.text
    task_id = unquote(pasted.headers["location"]).split("/")[-1].split("?")[0]
    assert task_id.startswith("responsibility-")
    task = world.tasks.get_task(task_id)
    assert task.meta["models"] == ["unknown"] and len(world.tasks.items(task_id)) == 3
    # The same pasted text again: the same default id, refused as existing (409, in Chinese).
    again = _create(
        world, {"kind": "responsibility", "samples_text": (run / "samples.jsonl").read_text("utf-8")}
    )
    assert again.status_code == 409 and "已存在" in again.text
    other = simple_run(world.tmp / "gen2", 3, model="openai:other-model")
    pair = _create(world, {"kind": "pairwise", "name": "pair-1"}, _files(run, 1) + _files(other, 2))
    assert pair.status_code == 303, pair.text
    payload = world.tasks.items("pair-1")[0].payload
    assert sorted(reply["model"] for reply in payload["replies"]) == [
        "openai:other-model",
        "openai:secret-model-x",
    ]
    mc = write_mc_run(world.tmp / "mc", n_need_check=2, n_parsed=3)
    review = _create(world, {"kind": "mc-review", "name": "mc-1"}, _files(mc))
    assert review.status_code == 303 and len(world.tasks.items("mc-1")) == 2


@pytest.mark.parametrize(
    ("fields", "slots", "status", "message"),
    [
        ({"kind": "safety", "name": "../../tmp/x"}, 1, 400, "任务名称只能由"),
        ({"kind": "poetry"}, 1, 400, "任务类型必须是"),
        ({"kind": "safety", "role": "admin"}, 1, 400, "任务只能分配给标注员或专家"),
        ({"kind": "safety", "per_item": "4"}, 1, 400, "每条需要 4 名不同的标注人员，但可分配的只有 3 名"),
        ({"kind": "safety", "per_item": "两"}, 1, 400, "“每条的标注人数”必须是整数"),
        ({"kind": "safety", "seed": "99999999999999999999"}, 1, 400, "随机种子必须在 0 到 2147483647 之间"),
        ({"kind": "safety", "annotators": ["nobody"]}, 1, 400, "没有用户“nobody”"),
        ({"kind": "safety"}, 0, 400, "请上传 samples.jsonl 文件"),
        ({"kind": "safety"}, 2, 400, "此类型的任务只读取一个运行结果"),
        ({"kind": "pairwise"}, 1, 400, "回复对比任务需要 2 到 3 个运行结果"),
    ],
)
def test_the_form_refuses_what_add_task_refuses_in_chinese(
    tmp_path: Path, fields: dict[str, Any], slots: int, status: int, message: str
) -> None:
    with open_world("sqlite", tmp_path) as world:
        files = [f for n in range(1, slots + 1) for f in _files(simple_run(tmp_path / f"r{n}", 2), n)]
        answer = _create(world, fields, files)
        assert answer.status_code == status, answer.text
        assert message in answer.text
        assert 'id="form-error"' in answer.text and "got " not in answer.text
        assert world.tasks.list_tasks() == []


def test_a_broken_upload_names_the_uploaded_file_and_line(tmp_path: Path) -> None:
    with open_world("sqlite", tmp_path) as world:
        lines = [json.dumps({"id": "a", "prompt": "问", "response": "答"}, ensure_ascii=False), "{not json"]
        upload = [("samples_1", ("我的样本.jsonl", "\n".join(lines).encode("utf-8"), "application/json"))]
        answer = _create(world, {"kind": "safety"}, upload)
        assert answer.status_code == 400
        assert "文件 我的样本.jsonl 第 2 行有误" in answer.text
        assert "cvalues-upload-" not in answer.text  # never the server's temporary path
        twice = (lines[0] + "\n" + lines[0]).encode("utf-8")
        duplicate = _create(
            world, {"kind": "safety"}, [("samples_1", ("dup.jsonl", twice, "application/json"))]
        )
        assert duplicate.status_code == 400 and "文件 dup.jsonl 第 2 行有误：重复的 id：a" in duplicate.text
        assert world.tasks.list_tasks() == []


def test_refusal_texts_fit_their_errors() -> None:
    """Every refusal exists in Chinese and English with the same placeholders, none of which is a
    name the error itself takes (key, path, line, flag)."""
    reserved = {"key", "path", "line", "flag"}
    for key, entry in ERROR_TEXTS.items():
        fields = {
            language: {name for _, name, _, _ in Formatter().parse(text) if name}
            for language, text in entry.items()
        }
        assert set(entry) >= {"zh", "en"}, key
        assert not reserved & set().union(*fields.values()), key
        # Chinese may leave out what only the English echoes back (the refused value); the few
        # fields only Chinese uses are passed beside the English ones.
        assert fields["zh"] <= fields["en"] | {"field_zh", "role_zh", "n"}, key


def test_a_closed_task_is_hidden_refuses_labels_and_still_exports(world: World) -> None:
    safety_task(world, n=4, per_item=2)
    alice = world.client("alice")
    assert label(alice, "safety-t", 0, verdict="unsafe").status_code == 303
    item_page = alice.get("/tasks/safety-t/1")
    assert item_page.status_code == 200
    admin = world.client("root")
    token = csrf_token(admin.get("/admin/tasks/safety-t").text)
    closed = admin.post("/admin/tasks/safety-t/state", data={"csrf_token": token, "closed": "1"})
    assert closed.status_code == 200 and 'class="task-reopen"' in closed.text
    assert not world.tasks.get_task("safety-t").is_open

    assert 'data-task="safety-t"' not in alice.get("/tasks").text
    resumed = alice.get("/tasks/safety-t", follow_redirects=False)
    assert resumed.status_code == 409 and "此任务已被管理员关闭" in resumed.text
    assert alice.get("/tasks/safety-t/1").status_code == 409
    # A form left open before the task was closed: refused, nothing stored.
    sent = alice.post(
        "/tasks/safety-t/1",
        data={"verdict": "safe", "csrf_token": csrf_token(item_page.text)},
        follow_redirects=False,
    )
    assert sent.status_code == 409 and "不再接受新的标注" in sent.text
    assert world.tasks.count_labels("safety-t") == 1
    with pytest.raises(TaskClosed):
        world.tasks.save_label("safety-t", world.accounts.get_user("alice"), 1, {"verdict": "safe"}, None)
    # Someone never assigned to it still gets 404, not a hint that it exists.
    outsider = world.client("eve")
    assert outsider.get("/tasks/safety-t", follow_redirects=False).status_code == 404

    # Admins keep everything: the task page, agreement, adjudication, exports.
    assert admin.get("/admin/tasks/safety-t").status_code == 200
    assert task_agreement(world.tasks, "safety-t").n_labels == 1
    out = world.tmp / "closed.jsonl"
    assert export_task(world.tasks, world.accounts, "safety-t", "jsonl", out) == 8  # 4 items x 2 people
    assert '"unsafe"' in out.read_text(encoding="utf-8")

    reopened = admin.post("/admin/tasks/safety-t/state", data={"csrf_token": token, "closed": "0"})
    assert reopened.status_code == 200 and world.tasks.get_task("safety-t").is_open
    assert 'data-task="safety-t"' in alice.get("/tasks").text
    assert label(alice, "safety-t", 1, verdict="safe").status_code == 303
    assert world.tasks.count_labels("safety-t") == 2


def test_closing_an_unknown_task_is_404_and_a_bad_state_400(tmp_path: Path) -> None:
    with open_world("sqlite", tmp_path) as world:
        admin = world.client("root")
        token = csrf_token(admin.get("/admin").text)
        assert (
            admin.post("/admin/tasks/nope/state", data={"csrf_token": token, "closed": "1"}).status_code
            == 404
        )
        safety_task(world, n=2, per_item=1)
        assert (
            admin.post("/admin/tasks/safety-t/state", data={"csrf_token": token, "closed": "x"}).status_code
            == 400
        )
        assert world.tasks.get_task("safety-t").is_open


def test_the_cli_and_the_page_refuse_with_the_same_check(tmp_path: Path) -> None:
    """add-task and the page share create_task_from_runs: the same refusal, English on the command
    line, Chinese on the page; close-task and reopen-task are the page's buttons."""
    with open_world("sqlite", tmp_path) as world:
        run = simple_run(tmp_path / "gen", 2)
        db = world.store.url
        refused = CliRunner().invoke(
            annotate_cli.app, ["add-task", str(run), "--kind", "safety", "--name", "../x", "--db", db]
        )
        assert isinstance(refused.exception, UserInputError) and refused.exception.flag == "--name"
        assert refused.exception.key == "task_id_rule" and "a task id has" in str(refused.exception)
        page = _create(world, {"kind": "safety", "name": "../x"}, _files(run))
        assert page.status_code == 400 and "任务名称只能由" in page.text
        made = CliRunner().invoke(
            annotate_cli.app, ["add-task", str(run), "--kind", "safety", "--name", "cli-t", "--db", db]
        )
        assert made.exit_code == 0, made.output
        for command, is_open in (("close-task", False), ("reopen-task", True)):
            result = CliRunner().invoke(annotate_cli.app, [command, "cli-t", "--db", db])
            assert result.exit_code == 0, result.output
            assert world.tasks.get_task("cli-t").is_open is is_open
        missing = CliRunner().invoke(annotate_cli.app, ["close-task", "nope", "--db", db])
        assert isinstance(missing.exception, InputError)
