"""CSRF protection for every POST: a synchronizer token tied to the session.

A logged-in user's forms carry the session's token (stored with the session); the login form,
before any session exists, carries a random token that must match its own cookie. A POST without
the right token (form field ``csrf_token`` or header ``X-CSRF-Token``) is refused with 403.
"""

from __future__ import annotations

import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from cvalues.annotate.auth import LoginRequired, current_session
from cvalues.annotate.login_token import LOGIN_CSRF_COOKIE

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def verify_csrf(request: Request) -> None:
    """App-wide dependency: refuse any unsafe method whose CSRF token is missing or wrong."""
    if request.method in _SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent and request.headers.get("content-type", "").startswith(_FORM_TYPES):
        value = (await request.form()).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    session = await run_in_threadpool(current_session, request)
    expected = session.csrf_token if session is not None else request.cookies.get(LOGIN_CSRF_COOKIE)
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        if session is None and request.url.path != "/login":
            # The session expired while the form was open: log in again and come back to the page
            # (the label form keeps its draft in the browser, item.html).
            raise LoginRequired()
        raise StaleForm()


class StaleForm(Exception):
    """A POST whose CSRF token is missing or not the session's (403; the page says how to go on)."""
