"""Every word the web app shows is Chinese by default (issue 14, item 7): the main pages of every
role and task kind, the refusals (bad labels, weak passwords, bad task forms), agreement figures,
chat speakers and error pages are rendered in zh, and their visible text is checked for Latin
words. Data on the page (user names, task ids, model names, file names) is taken out first, and
the few names that stay Latin in Chinese (Krippendorff, Fleiss, Cohen) are allowed by name: any
other English word that comes back into a page fails the test."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from annotate_support import csrf_token, simple_run, write_mc_run
from annotate_world import World, label, open_world, users
from cvalues.annotate.run_sources import read_generation_run, read_mc_review_run, read_pairwise_runs

# Proper names kept in Latin letters in Chinese texts, and the product's name.
LATIN_NAMES = {"CValues", "Krippendorff", "Fleiss", "Cohen", "English"}
_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'_]+")
_SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt")


class _VisibleText(HTMLParser):
    """The text a reader sees: text nodes outside script/style, plus shown attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [value for name, value in attrs if name in _SHOWN_ATTRIBUTES and value]
        if tag == "input" and dict(attrs).get("type") in ("submit", "button"):
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def english_words(html: str, data: set[str]) -> set[str]:
    """Latin words in the visible text of ``html``, once the strings in ``data`` are taken out."""
    parser = _VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    return {word for word in _LATIN_WORD.findall(text) if word not in LATIN_NAMES}


def _chat_run(run_dir: Path) -> Path:
    """A generation run whose prompts are chats (so pages show earlier user/assistant turns)."""
    run_dir.mkdir(parents=True)
    results = {"run_id": "chat-run", "task": "generate", "model": {"spec": "openai:secret-model-x"}}
    (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    rows = [
        {
            "id": f"c{i}",
            "messages": [
                {"role": "system", "content": "你是一个助手。"},
                {"role": "user", "content": "我最近压力很大。"},
                {"role": "assistant", "content": "听起来很辛苦，愿意多说一些吗？"},
                {"role": "user", "content": f"第{i}个问题：我该怎么办？"},
            ],
            "response": f"第{i}个回复：可以先和信任的人聊聊。",
            "domain": "心理学",
        }
        for i in range(2)
    ]
    (run_dir / "samples.jsonl").write_text(
        "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8"
    )
    return run_dir


def _tasks(world: World) -> None:
    people = users(world, "alice", "bob")
    tmp = world.tmp
    world.tasks.create_task(
        "安全", "safety", "annotator", 2, 1, read_generation_run(simple_run(tmp / "s", 2)), people
    )
    world.tasks.create_task(
        "责任", "responsibility", "annotator", 2, 1, read_generation_run(_chat_run(tmp / "c")), people
    )
    pair = read_pairwise_runs(
        [simple_run(tmp / "p1", 2), simple_run(tmp / "p2", 2, model="openai:other-model")], 3
    )
    world.tasks.create_task("对比", "pairwise", "annotator", 2, 1, pair, people)
    world.tasks.create_task(
        "复核", "mc-review", "annotator", 2, 1, read_mc_review_run(write_mc_run(tmp / "m", 2, 1)), people
    )


def _data(world: World) -> set[str]:
    """What pages show as data: names, ids, models, sources, item keys, file names."""
    data = {
        "root",
        "alice",
        "bob",
        "carol",
        "eve",
        "openai:echo-target",
        "samples.jsonl",
        "results.json",
        "Need_Check",
    }
    data |= {"openai:secret-model-x", "openai:other-model", "gguf:smollm2"}
    for task in world.tasks.list_tasks():
        data |= {task.id, task.source}
        data |= {item.key for item in world.tasks.items(task.id)}
    return data


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_world("sqlite", tmp_path) as opened:
        _tasks(opened)
        yield opened


def _label_everything(world: World) -> None:
    """Both annotators label every item of every task, disagreeing, so admin pages show figures."""
    fields = {
        "安全": [{"verdict": "safe"}, {"verdict": "unsafe", "scenario": "违法犯罪"}],
        "责任": [{"score": "2"}, {"score": "9"}],
        "对比": [{"choice": "0", "score": "3"}, {"choice": "1", "score": "9"}],
        "复核": [{"label": "Other"}, {"label": "Refuse"}],
    }
    for task_id, (first, second) in fields.items():
        n = len(world.tasks.items(task_id))
        for name, form in (("alice", first), ("bob", second)):
            for position in range(n):
                assert label(world.client(name), task_id, position, **form).status_code == 303


def _assert_chinese(pages: dict[str, str], data: set[str]) -> None:
    leaks = {url: sorted(english_words(html, data)) for url, html in pages.items()}
    leaks = {url: words for url, words in leaks.items() if words}
    assert leaks == {}, f"English words on Chinese pages: {leaks}"


def test_annotator_pages_and_refusals_are_chinese(world: World) -> None:
    alice = world.client("alice")
    pages = {"/tasks": alice.get("/tasks").text}
    for task_id in ("安全", "责任", "对比", "复核"):
        pages[f"/tasks/{task_id}/0"] = alice.get(f"/tasks/{task_id}/0").text
    assert "用户</b>" in pages["/tasks/责任/0"] and "模型</b>" in pages["/tasks/责任/0"]
    assert "系统</b>" in pages["/tasks/责任/0"]
    # Refused labels: missing and malformed values, in Chinese and never Python-shaped.
    refusals = {
        ("安全", ()): "请选择“安全”或“不安全”",
        ("责任", ()): "请选择评分",
        ("责任", (("score", "abc"),)): "评分必须是 1 到 10 的整数",
        ("责任", (("score", "11"),)): "评分必须在 1 到 10 之间",
        ("对比", (("score", "5"),)): "请选择更好的回复",
        ("对比", (("choice", "7"), ("score", "5"))): "请选择第 1 到第 2 个回复之一",
        ("复核", ()): "请选择复核结果",
    }
    for (task_id, form), message in refusals.items():
        answer = label(alice, task_id, 0, **dict(form))
        assert answer.status_code == 400 and message in answer.text, (task_id, form)
        assert "None" not in answer.text and "got" not in answer.text
        pages[f"refused {task_id} {form}"] = answer.text
    _label_everything(world)
    pages["done"] = alice.get("/tasks/安全", follow_redirects=True).text
    assert 'id="task-done"' in pages["done"]
    pages["404"] = alice.get("/tasks/nope").text
    pages["403"] = alice.get("/admin").text
    pages["redteam"] = alice.get(
        alice.post("/redteam/send", data={"csrf_token": csrf_token(pages["/tasks"]), "prompt": "你好"}).url
    ).text
    pages["redteam empty prompt"] = alice.post(
        "/redteam/send", data={"csrf_token": csrf_token(pages["/tasks"]), "prompt": "  "}
    ).text
    assert "内容不能为空" in pages["redteam empty prompt"]
    pages["login"] = world.client().get("/login").text
    _assert_chinese(pages, _data(world))


def test_admin_pages_and_agreement_names_are_chinese(world: World) -> None:
    _label_everything(world)
    admin = world.client("root")
    pages = {url: admin.get(url).text for url in ("/admin", "/admin/new-task", "/admin/collected", "/expert")}
    for task_id in ("安全", "责任", "对比", "复核"):
        page = admin.get(f"/admin/tasks/{task_id}").text
        assert 'id="disagreements"' in page, task_id
        pages[f"/admin/tasks/{task_id}"] = page
        item = world.tasks.items(task_id)[0]
        pages[f"/admin/tasks/{task_id}/items/{item.id}"] = admin.get(
            f"/admin/tasks/{task_id}/items/{item.id}"
        ).text
    safety = pages["/admin/tasks/安全"]
    for name in (
        "百分比一致率",
        "Fleiss κ 系数",
        "Krippendorff α 系数（名义）",
        "Cohen κ 系数（两两平均）",
        "安全判断",
    ):
        assert name in safety, name
    assert "alice: 安全" in safety and "bob: 不安全 (违法犯罪)" in safety
    assert "Krippendorff α 系数（区间）" in pages["/admin/tasks/责任"]
    assert "其他（无法判断）" in pages["/admin/tasks/复核"] and "拒绝回答" in pages["/admin/tasks/复核"]
    # Refusals on the admin pages: accounts, adjudication, the task form.
    token = csrf_token(pages["/admin"])
    weak = admin.post(
        "/admin/users", data={"csrf_token": token, "name": "dan", "role": "annotator", "password": "12345678"}
    )
    assert weak.status_code == 400 and "密码过于常见" in weak.text
    pages["weak password"] = weak.text
    existing = admin.post(
        "/admin/users",
        data={"csrf_token": token, "name": "alice", "role": "annotator", "password": "a-good-pass-7"},
    )
    assert existing.status_code == 400 and "已存在" in existing.text
    pages["existing user"] = existing.text
    item = world.tasks.items("责任")[0]
    bad_score = admin.post(f"/admin/tasks/责任/items/{item.id}", data={"csrf_token": token, "score": "0"})
    assert bad_score.status_code == 400 and "评分必须在 1 到 10 之间" in bad_score.text
    pages["bad adjudication"] = bad_score.text
    bad_task = admin.post(
        "/admin/tasks", data={"csrf_token": token, "kind": "safety", "name": "../x"}, files=[]
    )
    pages["bad task form"] = bad_task.text
    bad_file = admin.post(
        "/admin/tasks",
        data={"csrf_token": token, "kind": "safety"},
        files=[("samples_1", ("s.jsonl", b'{"id": "a", "prompt": "\xe9\x97\xae"}\n', "application/json"))],
    )
    assert bad_file.status_code == 400 and "文件 s.jsonl 有误：没有可标注的回复" in bad_file.text
    pages["file without replies"] = bad_file.text
    closed = admin.post("/admin/tasks/安全/state", data={"csrf_token": token, "closed": "1"})
    pages["closed task"] = closed.text
    pages["closed for annotator"] = world.client("alice").get("/tasks/安全/0").text
    assert "此任务已被管理员关闭" in pages["closed for annotator"]
    pages["bad form field"] = admin.post("/admin/users/alice/active", data={"csrf_token": token}).text
    _assert_chinese(pages, _data(world) | {"s.jsonl"})


def test_the_english_toggle_gives_english(world: World) -> None:
    _label_everything(world)
    admin = world.client("root")
    admin.get("/lang/en?next=/admin")
    page = unescape(admin.get("/admin/tasks/安全").text)
    for words in (
        "Agreement",
        "percent agreement",
        "Krippendorff's alpha (nominal)",
        "verdict",
        "alice: Safe",
    ):
        assert words in page, words
    refused = label(world.client("alice"), "责任", 0, score="abc")
    assert "评分必须" in refused.text  # alice's cookie still says zh
    alice = world.client("alice")
    alice.get("/lang/en?next=/tasks")
    refused = label(alice, "责任", 0, score="abc")
    assert "score must be a whole number from 1 to 10" in refused.text


def test_the_check_finds_english() -> None:
    """The checker itself: an English word among Chinese is found; data and Latin names are not."""
    html = (
        "<p>标注 <b>alice</b>: Fleiss κ 系数 <span title='Submit'>提交</span></p><script>var x = 1;</script>"
    )
    assert english_words(html, {"alice"}) == {"Submit"}
    assert english_words("<p>用户 root 的 Cohen κ 系数</p>", {"root"}) == set()
