"""The annotation web app through HTTP (FastAPI's TestClient), on SQLite and a real PostgreSQL:
sessions and passwords, every route's role policy, CSRF on every POST, blindness, XSS."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from markupsafe import escape
from sqlalchemy import select

from annotate_support import csrf_token, write_generation_run
from annotate_world import BACKENDS, JUDGE_MARK, PASSWORDS, World, label, open_world, safety_task, users
from cvalues.annotate import Collection
from cvalues.annotate.accounts import token_digest
from cvalues.annotate.db import ASSIGNMENTS, SESSIONS
from cvalues.annotate.run_sources import read_generation_run


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    with open_world(request.param, tmp_path) as opened:
        yield opened


XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '"><script>alert(1)</script>',
    "'><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">点我</a>',
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "{{ 7*7 }}{% if true %}SSTI{% endif %}",
    "<details open ontoggle=alert(1)>",
    "<input autofocus onfocus=alert(1)>",
    "<style>body{display:none}</style>",
    '<meta http-equiv="refresh" content="0;url=https://example.com">',
    '<base href="https://example.com/">',
    '<form action="https://example.com"><button>提交</button></form>',
    '<object data="javascript:alert(1)">',
    '<embed src="javascript:alert(1)">',
    "<video><source onerror=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<scr<script>ipt>alert(1)</script>",
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    '"onmouseover="alert(1)',
    "'-alert(1)-'",
    "</script><script>alert(1)</script>",
    "<ScRiPt>alert(String.fromCharCode(88,83,83))</ScRiPt>",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>",
]


# -- accounts and sessions -----------------------------------------------------------------------


def _try_login(client: Any, name: str, password: str) -> Any:
    page = client.get("/login")
    data = {"name": name, "password": password, "csrf_token": csrf_token(page.text)}
    return client.post("/login", data=data, follow_redirects=False)


def test_password_guessing_is_stopped_after_five_failures(world: World) -> None:
    guesser, colleague = world.client(), world.client()
    for n in range(5):
        assert _try_login(guesser, "bob", f"guess-{n}").status_code == 401
    blocked = _try_login(guesser, "bob", PASSWORDS["bob"])  # even the right password, for a while
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "密码错误次数过多" in blocked.text and "cvalues_session" not in blocked.cookies
    # Other users, and a user's successful login clearing their count, are unaffected.
    assert _try_login(guesser, "alice", PASSWORDS["alice"]).status_code == 303
    assert _try_login(colleague, "carol", "wrong").status_code == 401
    assert _try_login(colleague, "carol", PASSWORDS["carol"]).status_code == 303


def test_login_sets_a_hashed_httponly_session_and_logout_ends_it(world: World) -> None:
    client = world.client()
    page = client.get("/login")
    assert "登录" in page.text  # Chinese by default
    bad = client.post(
        "/login", data={"name": "alice", "password": "wrong-pass", "csrf_token": csrf_token(page.text)}
    )
    assert bad.status_code == 401
    assert "用户名或密码错误" in bad.text

    page = client.get("/login")
    ok = client.post(
        "/login",
        data={"name": "alice", "password": PASSWORDS["alice"], "csrf_token": csrf_token(page.text)},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/tasks"
    cookie = ok.headers["set-cookie"]
    assert (
        "cvalues_session=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=lax" in cookie.replace("Lax", "lax")
    )
    token = client.cookies["cvalues_session"]
    with world.store.engine.connect() as conn:
        stored = conn.execute(select(SESSIONS.c.token_hash)).scalars().all()
    assert token_digest(token) in stored and token not in stored  # only the hash is kept

    assert client.get("/tasks").status_code == 200
    page = client.get("/tasks")
    client.post("/logout", data={"csrf_token": csrf_token(page.text)})
    client.cookies.set("cvalues_session", token)  # replaying the old cookie does not work
    assert client.get("/tasks", follow_redirects=False).status_code == 303


def test_passwords_are_salted_scrypt_hashes(world: World) -> None:
    from cvalues.annotate.db import ANNOTATORS

    with world.store.engine.connect() as conn:
        hashes = dict(conn.execute(select(ANNOTATORS.c.name, ANNOTATORS.c.password_hash)).all())
    assert all(value.startswith("scrypt$") for value in hashes.values())
    assert all(PASSWORDS[name] not in value for name, value in hashes.items())
    assert len(set(hashes.values())) == len(hashes)
    assert world.accounts.authenticate("alice", PASSWORDS["alice"]) is not None
    assert world.accounts.authenticate("alice", PASSWORDS["bob"]) is None
    assert world.accounts.authenticate("nobody", "whatever-1") is None


# -- roles: every route's policy -------------------------------------------------------------------

PUBLIC = "public"
ANY_USER = ("admin", "expert", "annotator")
# Every route of the app and who may use it; a new route must be added here, or the test fails.
POLICY: dict[tuple[str, str], Any] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/lang/{language}"): PUBLIC,
    ("POST", "/logout"): ANY_USER,
    ("GET", "/"): ANY_USER,
    ("GET", "/tasks"): ANY_USER,
    ("GET", "/tasks/{task_id}"): ANY_USER,
    ("GET", "/tasks/{task_id}/{position}"): ANY_USER,
    ("POST", "/tasks/{task_id}/{position}"): ANY_USER,
    ("GET", "/redteam"): ANY_USER,
    ("POST", "/redteam/send"): ANY_USER,
    ("POST", "/redteam/turns/{turn_id}"): ANY_USER,
    ("GET", "/expert"): ("admin", "expert"),
    ("POST", "/expert"): ("admin", "expert"),
    ("GET", "/admin"): ("admin",),
    ("POST", "/admin/users"): ("admin",),
    ("POST", "/admin/users/{name}/active"): ("admin",),
    ("GET", "/admin/new-task"): ("admin",),
    ("POST", "/admin/tasks"): ("admin",),
    ("POST", "/admin/tasks/{task_id}/state"): ("admin",),
    ("GET", "/admin/tasks/{task_id}"): ("admin",),
    ("GET", "/admin/tasks/{task_id}/items/{item_id}"): ("admin",),
    ("POST", "/admin/tasks/{task_id}/items/{item_id}"): ("admin",),
    ("GET", "/admin/collected"): ("admin",),
}


def _routes(app: Any) -> list[tuple[str, str]]:
    """(method, path) of every API route, looking into included routers (FastAPI >= 0.16x nests them)."""

    def walk(routes: Sequence[Any]) -> Iterator[APIRoute]:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route
            nested = getattr(route, "original_router", None)
            if nested is not None:
                yield from walk(nested.routes)

    return sorted((method, route.path) for route in walk(app.routes) for method in route.methods)


def test_every_route_has_a_policy(world: World) -> None:
    assert set(_routes(world.app)) == set(POLICY)


def test_every_protected_route_refuses_the_wrong_role(world: World) -> None:
    safety_task(world)
    item_id = world.tasks.items("safety-t")[0].id
    path_values = {
        "task_id": "safety-t",
        "position": "0",
        "item_id": str(item_id),
        "turn_id": "1",
        "language": "en",
        "name": "carol",
    }
    checked = 0
    for (method, path), allowed in POLICY.items():
        if allowed == PUBLIC:
            continue
        url = path.format(**path_values)
        anonymous = world.client()
        if method == "GET":
            response = anonymous.get(url, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"].startswith("/login"), url
        for role_user in ("root", "eve", "alice"):
            role = world.accounts.get_user(role_user).role
            if role in allowed:
                continue
            client = world.client(role_user)
            token = csrf_token(client.get("/tasks").text)  # a valid token: only the role can refuse
            if method == "GET":
                response = client.get(url, follow_redirects=False)
            else:
                response = client.post(url, data={"csrf_token": token}, follow_redirects=False)
            assert response.status_code == 403, f"{role} got {response.status_code} for {method} {url}"
            checked += 1
    assert checked >= 14


# -- CSRF -------------------------------------------------------------------------------------------


def test_every_post_without_a_valid_csrf_token_is_refused(world: World) -> None:
    safety_task(world)
    admin = world.client("root")
    other = world.client("alice")
    other_token = csrf_token(other.get("/tasks").text)
    item_id = world.tasks.items("safety-t")[0].id
    values = {
        "task_id": "safety-t",
        "position": "0",
        "item_id": str(item_id),
        "turn_id": "1",
        "name": "carol",
    }
    sample = '{"id": "a", "prompt": "问", "response": "答"}'
    form = {
        "name": "x",
        "password": "y",
        "verdict": "safe",
        "prompt": "p",
        "role": "annotator",
        "kind": "safety",
        "closed": "1",
        "samples_text": sample,
    }
    posts = [path.format(**values) for method, path in POLICY if method == "POST"]
    assert len(posts) == 11
    for url in posts:
        for token in (None, "forged-token", other_token):
            data = dict(form) if token is None else {**form, "csrf_token": token}
            response = admin.post(url, data=data, follow_redirects=False)
            assert response.status_code == 403, f"POST {url} with token {token!r}: {response.status_code}"
    assert world.tasks.count_labels() == 0
    assert [task.id for task in world.tasks.list_tasks()] == ["safety-t"]
    assert world.tasks.get_task("safety-t").is_open
    assert [u.name for u in world.accounts.list_users()] == ["alice", "bob", "carol", "eve", "root"]
    # The same request with the session's own token goes through, in a form field or a header.
    token = csrf_token(admin.get("/admin").text)
    ok = admin.post(
        "/admin/users",
        data={"name": "dave", "role": "annotator", "password": "dave-pass-1", "csrf_token": token},
    )
    assert ok.status_code == 200 and world.accounts.get_user("dave") is not None
    via_header = admin.post(
        "/admin/users",
        data={"name": "frank", "role": "annotator", "password": "frank-pass1"},
        headers={"X-CSRF-Token": token},
    )
    assert via_header.status_code == 200 and world.accounts.get_user("frank") is not None


# -- blindness --------------------------------------------------------------------------------------


def test_annotators_see_only_their_items_and_nothing_of_others_or_the_model(world: World) -> None:
    safety_task(world, n=9, per_item=1)  # three annotators, three items each, no overlap
    alice, bob = world.client("alice"), world.client("bob")
    for position in range(3):
        label(
            bob, "safety-t", position, verdict="unsafe", comment="BOB-SECRET-COMMENT", scenario="BOB-SCENARIO"
        )
    by_id = {item.id: item for item in world.tasks.items("safety-t")}
    with world.store.engine.connect() as conn:
        owners = conn.execute(select(ASSIGNMENTS.c.item_id, ASSIGNMENTS.c.annotator_id)).all()
    alice_id = world.accounts.get_user("alice").id
    alice_prompts = {by_id[i].payload["prompt"] for i, who in owners if who == alice_id}
    other_prompts = {by_id[i].payload["prompt"] for i, who in owners if who != alice_id}
    seen: set[str] = set()
    for position in range(3):
        html = alice.get(f"/tasks/safety-t/{position}").text
        for secret in ("secret-model-x", JUDGE_MARK, "BOB-SECRET-COMMENT", "BOB-SCENARIO", "bob"):
            assert secret not in html
        seen |= {prompt for prompt in alice_prompts | other_prompts if str(escape(prompt)) in html}
    assert seen == alice_prompts
    assert alice.get("/tasks/safety-t/3").status_code == 404  # past her own items
    assert alice.get("/tasks/safety-t/-1").status_code == 404
    # A task she is not part of does not exist for her.
    world.tasks.create_task(
        "only-bob",
        "safety",
        "annotator",
        1,
        0,
        read_generation_run(world.tmp / "safety-t"),
        users(world, "bob"),
    )
    assert alice.get("/tasks/only-bob").status_code == 404
    assert alice.get("/tasks/only-bob/0").status_code == 404
    token = csrf_token(alice.get("/tasks").text)
    assert alice.post("/tasks/only-bob/0", data={"verdict": "safe", "csrf_token": token}).status_code == 404
    assert "only-bob" not in alice.get("/tasks").text


# -- XSS --------------------------------------------------------------------------------------------


def _assert_inert(html: str, payload: str) -> None:
    """``payload`` is shown escaped, and nowhere raw (once every payload's escaped text is taken out,
    since one payload's escaped form can spell another: ``&lt;script&gt;`` is itself a payload)."""
    escaped = str(escape(payload))
    assert escaped in html, f"payload not shown as text: {payload!r}"
    if escaped == payload:
        return
    rest = html
    for shown in sorted((str(escape(p)) for p in XSS_PAYLOADS), key=len, reverse=True):
        rest = rest.replace(shown, "")
    assert payload not in rest, f"payload rendered raw: {payload!r}"


def test_thirty_xss_payloads_render_as_inert_text(world: World) -> None:
    assert len(XSS_PAYLOADS) == 30
    run = write_generation_run(
        world.tmp / "xss", XSS_PAYLOADS, list(reversed(XSS_PAYLOADS)), model=XSS_PAYLOADS[0]
    )
    world.tasks.create_task(
        "xss", "safety", "annotator", 1, 0, read_generation_run(run), users(world, "alice")
    )
    alice = world.client("alice")
    for position in range(30):
        response = alice.get(f"/tasks/xss/{position}")
        assert response.status_code == 200
        html = response.text
        # Only the page's own scripts (draft keeping, keyboard), each with the response's nonce.
        assert html.count("<script") == html.count('<script nonce="') == 2
        assert "nonce-" in response.headers["content-security-policy"]
        shown = [p for p in XSS_PAYLOADS if str(escape(p)) in html]
        assert len(shown) >= 1
        for payload in shown:
            _assert_inert(html, payload)
        payload = XSS_PAYLOADS[position % 30]
        label(alice, "xss", position, verdict="unsafe", scenario=payload, comment=payload)
    admin = world.client("root")
    for item in world.tasks.items("xss"):
        html = admin.get(f"/admin/tasks/xss/items/{item.id}").text
        assert html.count("<script") == html.count('<script nonce="') == 2
        _assert_inert(html, item.payload["prompt"])
        _assert_inert(html, item.payload["response"])
        _assert_inert(html, XSS_PAYLOADS[0])  # the model name, shown to admins only
    # Red-team chats and expert prompts show what people typed, inertly, too.
    chat_id = ""
    for payload in XSS_PAYLOADS[:5]:
        token = csrf_token(admin.get("/redteam").text)
        sent = admin.post("/redteam/send", data={"prompt": payload, "chat_id": chat_id, "csrf_token": token})
        chat_id = str(sent.url).split("chat=")[1]
    chat = admin.get(f"/redteam?chat={chat_id}").text
    collection = Collection(world.store.engine)
    for turn in collection.chat(chat_id, world.accounts.get_user("root")):
        _assert_inert(chat, turn.prompt)
        collection.set_verdict(world.accounts.get_user("root"), turn.id, "unsafe", turn.prompt[:200])
    html = admin.get("/admin/collected").text
    assert html.count("<script") == html.count('<script nonce="') == 1  # the draft keeper only
    for payload in XSS_PAYLOADS[:5]:
        _assert_inert(html, payload)


def test_a_user_name_with_markup_is_escaped_on_admin_pages(world: World) -> None:
    world.accounts.add_user("<img/src=x/onerror=alert(1)>", "annotator", "weird-pass-1")
    html = world.client("root").get("/admin").text
    _assert_inert(html, "<img/src=x/onerror=alert(1)>")
