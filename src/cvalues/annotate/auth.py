"""Who is asking: the session cookie, the logged-in user, and role checks for routes.

The cookie holds a random token (HttpOnly, SameSite=Lax); the store holds only its sha256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends
from starlette.requests import Request

from cvalues.annotate.accounts import LoginSession
from cvalues.annotate.services import services

SESSION_COOKIE = "cvalues_session"
_STATE_KEY = "cvalues_login"
_UNSET = object()


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form."""


class Forbidden(Exception):
    """Logged in, but the role may not open this page (403)."""


def current_session(request: Request) -> LoginSession | None:
    """The request's live session, looked up once per request."""
    cached = getattr(request.state, _STATE_KEY, _UNSET)
    if cached is not _UNSET:
        return cast("LoginSession | None", cached)
    token = request.cookies.get(SESSION_COOKIE)
    session = services(request).accounts.session(token) if token else None
    setattr(request.state, _STATE_KEY, session)
    return session


def require_login(request: Request) -> LoginSession:
    session = current_session(request)
    if session is None:
        raise LoginRequired()
    return session


def require_role(*roles: str) -> Callable[[Request], LoginSession]:
    """A dependency that lets only ``roles`` through (others get 403, strangers the login form)."""

    def dependency(request: Request) -> LoginSession:
        session = require_login(request)
        if session.user.role not in roles:
            raise Forbidden()
        return session

    return dependency


require_admin = require_role("admin")

# Route parameter types: `login: LoggedIn` lets any user in, `AdminLogin` admins only.
LoggedIn = Annotated[LoginSession, Depends(require_login)]
AdminLogin = Annotated[LoginSession, Depends(require_admin)]
ExpertLogin = Annotated[LoginSession, Depends(require_role("expert", "admin"))]
