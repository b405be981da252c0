"""The pre-login CSRF token: a random value in its own cookie that the login form must echo.

Its own module so that both the CSRF check (csrf.py) and the page renderer (rendering.py) use it
without importing each other."""

from __future__ import annotations

import secrets

from starlette.requests import Request

LOGIN_CSRF_COOKIE = "cvalues_login_csrf"


def login_csrf_token(request: Request) -> str:
    """The pre-login token: the one in the cookie, or a new one (the caller sets the cookie)."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
