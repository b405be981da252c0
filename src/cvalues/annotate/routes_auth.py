"""Logging in and out, the language toggle, the home redirect and a health check."""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

from cvalues.annotate.accounts import SESSION_LIFETIME, LoginSession
from cvalues.annotate.auth import SESSION_COOKIE, LoggedIn, current_session
from cvalues.annotate.i18n import LANG_COOKIE, LANGUAGES
from cvalues.annotate.login_token import LOGIN_CSRF_COOKIE
from cvalues.annotate.services import services

router = APIRouter()
_LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to; anything else (another host, ``//evil``) becomes ``default``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def home_of(session: LoginSession) -> str:
    return "/admin" if session.user.is_admin else "/tasks"


@router.get("/healthz", include_in_schema=False)
async def healthz() -> PlainTextResponse:
    # async: answered on the event loop, never queued behind handlers waiting in the thread pool.
    return PlainTextResponse("ok")


@router.get("/")
def home(login: LoggedIn) -> RedirectResponse:
    return RedirectResponse(home_of(login), status_code=303)


@router.get("/login")
def login_form(request: Request, next: str | None = None, expired: str | None = None) -> Response:
    session = current_session(request)
    if session is not None:
        return RedirectResponse(safe_next(next, home_of(session)), status_code=303)
    return services(request).renderer.page(
        request, "login.html", next=safe_next(next, ""), error=False, expired=bool(expired)
    )


@router.post("/login")
def login(
    request: Request, name: str = Form(...), password: str = Form(...), next: str = Form("")
) -> Response:
    app = services(request)
    name = name.strip()
    address = request.client.host if request.client else ""
    wait = app.throttle.retry_after(name, address)
    if wait:
        page = app.renderer.page(
            request, "login.html", status_code=429, next=safe_next(next, ""), error="login_throttled"
        )
        page.headers["Retry-After"] = str(wait)
        return page
    user = app.accounts.authenticate(name, password)
    if user is None:
        app.throttle.failed(name, address)
        return app.renderer.page(
            request, "login.html", status_code=401, next=safe_next(next, ""), error="login_failed"
        )
    app.throttle.succeeded(name, address)
    token, _ = app.accounts.open_session(user)
    target = safe_next(next, "/admin" if user.is_admin else "/tasks")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=app.secure_cookies,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        services(request).accounts.close_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{language}")
def set_language(language: str, next: str | None = None) -> RedirectResponse:
    response = RedirectResponse(safe_next(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANG_COOKIE, language, max_age=_LANG_COOKIE_MAX_AGE, samesite="lax")
    return response
