"""Limits applied before any handler parses a request (pure ASGI middleware).

``BodyLimit``: a body longer than the route's limit is answered 413 before a byte of it is parsed
(a declared Content-Length is refused at once; a chunked body is counted as it arrives). The login
form gets a small limit: a 20 MB urlencoded body must not cost seconds of CPU before the CSRF check.

``WriteGate``: at most ``max_writers`` unsafe requests (POST ...) run at once; the rest wait
asynchronously, holding no thread, and get 503 with Retry-After when the wait runs out; the time
spent waiting here counts against the same bound as the wait for the store's lock (``db.writing``). While
another process holds the store's write lock, writers therefore cannot fill the thread pool, and
reads (pages, /healthz) keep being served.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from typing import Any

from cvalues.annotate.db import write_deadline
from cvalues.annotate.i18n import DEFAULT_LANGUAGE, LANG_COOKIE, pick_language, translator

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 256 * 1024  # a label form with the longest allowed texts fits many times over
MAX_LOGIN_BODY_BYTES = 4 * 1024
_SMALL_BODY_PATHS = {"/login": MAX_LOGIN_BODY_BYTES, "/logout": MAX_LOGIN_BODY_BYTES}
# The admin's "新建任务" form uploads run files; only as multipart (cheap to parse), never urlencoded.
MAX_UPLOAD_BODY_BYTES = 64 * 1024 * 1024
_UPLOAD_PATHS = frozenset({"/admin/tasks"})
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _language(scope: Scope) -> str:
    """The language of the ``cvalues_lang`` cookie (these plain answers come before any page)."""
    raw = dict(scope.get("headers") or []).get(b"cookie", b"").decode("latin-1")
    cookie: SimpleCookie = SimpleCookie()
    try:
        cookie.load(raw)
    except CookieError:
        return DEFAULT_LANGUAGE
    morsel = cookie.get(LANG_COOKIE)
    return pick_language(morsel.value if morsel is not None else None)


def _text(scope: Scope, key: str, **fields: object) -> str:
    return translator(_language(scope))(key, **fields)


async def plain_response(send: Send, status: int, text: str, headers: dict[str, str] | None = None) -> None:
    body = text.encode("utf-8")
    raw_headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def body_limit_of(path: str, content_type: bytes = b"") -> int:
    if path in _UPLOAD_PATHS and content_type.startswith(b"multipart/form-data"):
        return MAX_UPLOAD_BODY_BYTES
    return _SMALL_BODY_PATHS.get(path, MAX_BODY_BYTES)


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = body_limit_of(scope["path"], headers.get(b"content-type", b""))
        too_large = _text(scope, "too_large_limit", kib=limit // 1024)
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await plain_response(send, 413, too_large)
            return
        # Read the (bounded) body here, then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await plain_response(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class WriteGate:
    def __init__(
        self,
        app: ASGIApp,
        max_writers: int = 8,
        wait_s: float = 5.0,
        retry_after_s: int = 5,
        max_logins: int = 4,
        login_queue_s: float = 30.0,
    ) -> None:
        self.app = app
        self.wait_s = wait_s
        self.retry_after_s = retry_after_s
        # Logins are mostly scrypt (CPU), not the lock: they get their own few slots and queue
        # longer, so that 50 people logging in at 9:00 wait a little instead of seeing 503.
        self._limits = {"write": (max_writers, wait_s), "login": (max_logins, login_queue_s)}
        # One semaphore per event loop and kind (tests run each TestClient request on its own loop).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE:
            await self.app(scope, receive, send)
            return
        kind = "login" if scope["path"] == "/login" else "write"
        size, queue_s = self._limits[kind]
        loop = asyncio.get_running_loop()
        slots = self._slots.setdefault(loop, {}).setdefault(kind, asyncio.Semaphore(size))
        started = time.monotonic()
        try:
            await asyncio.wait_for(slots.acquire(), timeout=queue_s)
        except TimeoutError:
            busy = _text(scope, "busy_plain")
            await plain_response(send, 503, busy, {"Retry-After": str(self.retry_after_s)})
            return
        # Writes: the time queued here counts against the lock wait; logins start afresh.
        deadline = started + self.wait_s if kind == "write" else time.monotonic() + self.wait_s
        token = write_deadline.set(deadline)
        try:
            await self.app(scope, receive, send)
        finally:
            write_deadline.reset(token)
            slots.release()
