"""Accounts (issue 14, item 6): adding an existing user is refused unless --update; the last admin
cannot be demoted or disabled; users can be disabled (sessions end at once) and re-enabled;
passwords are checked against common passwords and the user name, with 10+ characters for admins."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotate_support import csrf_token
from annotate_world import PASSWORDS, World, open_world
from cli_support import cli_env, run_cli
from cvalues.annotate.passwords import password_problem
from cvalues.core.errors import InputError


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world("sqlite", tmp_path) as opened:
        yield opened


@pytest.mark.parametrize(
    ("password", "name", "role"),
    [
        ("12345678", "amy", "annotator"),
        ("Password1", "amy", "annotator"),
        ("woaini1314", "amy", "annotator"),
        ("aaaaaaaaaaaa", "amy", "annotator"),
        ("amy12345", "amy", "annotator"),
        ("AMY-AMY-AMY", "amy", "annotator"),
        ("short-pw", "amy", "annotator"),  # 8 characters: enough for an annotator ...
        ("nine-char", "boss", "admin"),  # ... but an admin needs 10
    ],
)
def test_weak_passwords_are_refused(password: str, name: str, role: str) -> None:
    problem = password_problem(password, name, role)
    if password == "short-pw":
        assert problem is None
    else:
        assert problem is not None


def test_adding_an_existing_user_is_refused_without_update(world: World) -> None:
    with pytest.raises(InputError, match="--update"):
        world.accounts.add_user("alice", "admin", "a-new-password-9")
    assert world.accounts.get_user("alice").role == "annotator"
    assert world.accounts.authenticate("alice", PASSWORDS["alice"]) is not None
    world.accounts.add_user("alice", "expert", "a-new-password-9", update=True)
    assert world.accounts.get_user("alice").role == "expert"
    assert world.accounts.authenticate("alice", "a-new-password-9") is not None


def test_the_last_admin_stays(world: World) -> None:
    with pytest.raises(InputError, match="last admin"):
        world.accounts.add_user("root", "annotator", "another-pass-9", update=True)
    with pytest.raises(InputError, match="last admin"):
        world.accounts.set_active("root", False)
    world.accounts.add_user("root2", "admin", "second-admin-9")
    world.accounts.set_active("root", False)  # now another admin remains
    assert world.accounts.authenticate("root", PASSWORDS["root"]) is None


def test_admin_page_add_refuses_existing_and_disable_ends_sessions(world: World) -> None:
    root, alice = world.client("root"), world.client("alice")
    assert alice.get("/tasks").status_code == 200
    token = csrf_token(root.get("/admin").text)
    answer = root.post(
        "/admin/users",
        data={"csrf_token": token, "name": "alice", "role": "admin", "password": "x-pass-word-1"},
    )
    # The page's own words (the CLI's message names --update instead).
    assert answer.status_code == 400 and "用户“alice”已存在" in answer.text and "修改已有用户" in answer.text
    assert world.accounts.get_user("alice").role == "annotator"
    weak = root.post(
        "/admin/users", data={"csrf_token": token, "name": "zed", "role": "annotator", "password": "12345678"}
    )
    assert weak.status_code == 400 and world.accounts.get_user("zed") is None
    off = root.post(
        "/admin/users/alice/active", data={"csrf_token": token, "active": "0"}, follow_redirects=False
    )
    assert off.status_code == 303
    assert alice.get("/tasks", follow_redirects=False).status_code == 303  # to the login form
    assert "已停用" in root.get("/admin").text
    on = root.post(
        "/admin/users/alice/active", data={"csrf_token": token, "active": "1"}, follow_redirects=False
    )
    assert on.status_code == 303
    assert world.accounts.authenticate("alice", PASSWORDS["alice"]) is not None
    # An admin may not disable themselves when no other admin is left.
    self_off = root.post("/admin/users/root/active", data={"csrf_token": token, "active": "0"})
    assert self_off.status_code == 400 and "“root”是最后一个管理员" in self_off.text
    assert root.get("/admin").status_code == 200
    missing = root.post("/admin/users/nobody/active", data={"csrf_token": token, "active": "0"})
    assert missing.status_code == 404


def test_cli_add_user_update_and_disable(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'u.db'}"
    env = {**cli_env(), "PW": "first-pass-word", "PW2": "second-pass-word"}
    assert (
        run_cli(
            "annotate", "add-user", "boss", "--role", "admin", "--password-env", "PW", "--db", db, env=env
        ).code
        == 0
    )
    again = run_cli(
        "annotate", "add-user", "boss", "--role", "annotator", "--password-env", "PW2", "--db", db, env=env
    )
    assert again.code == 2 and "--update" in again.stderr
    demote = run_cli(
        "annotate",
        "add-user",
        "boss",
        "--role",
        "annotator",
        "--password-env",
        "PW2",
        "--update",
        "--db",
        db,
        env=env,
    )
    assert demote.code == 2 and "last admin" in demote.stderr
    assert run_cli("annotate", "add-user", "amy", "--password-env", "PW2", "--db", db, env=env).code == 0
    assert run_cli("annotate", "disable-user", "amy", "--db", db, env=env).code == 0
    assert run_cli("annotate", "enable-user", "amy", "--db", db, env=env).code == 0
    assert run_cli("annotate", "disable-user", "boss", "--db", db, env=env).code == 2
    assert os.environ.get("PW") is None
