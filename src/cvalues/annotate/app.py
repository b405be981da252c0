"""The annotation web app: ``create_app(store)`` gives a FastAPI app serving server-rendered pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cvalues.annotate import routes_admin, routes_admin_tasks, routes_auth, routes_collect, routes_label
from cvalues.annotate.auth import Forbidden, LoginRequired, current_session
from cvalues.annotate.csrf import StaleForm, verify_csrf
from cvalues.annotate.db import RETRY_AFTER_S, WRITE_WAIT_S, StoreBusy
from cvalues.annotate.i18n import MESSAGES, request_message
from cvalues.annotate.redteam_target import RedTeamTarget
from cvalues.annotate.rendering import Renderer
from cvalues.annotate.request_limits import BodyLimit, WriteGate
from cvalues.annotate.services import AppServices, services
from cvalues.annotate.task_store import TaskClosed
from cvalues.store.store import Store

_LABEL_PAGE = re.compile(r"/(tasks|admin/tasks)/[^/]+/(items/)?[0-9]+")
_ERROR_MESSAGES = {
    401: "login_needed",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "task_conflict",
    413: "too_large",
    503: "store_busy",
}


def create_app(store: Store, *, target: RedTeamTarget | None = None, secure_cookies: bool = False) -> FastAPI:
    """The app over ``store`` (already migrated: use ``open_store``). ``target``: the red-team model."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if target is not None:
            await target.aclose()

    app = FastAPI(
        title="cvalues annotate",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
        # Every route, present and future, checks the CSRF token of unsafe methods.
        dependencies=[Depends(verify_csrf)],
    )
    renderer = Renderer(session_of=current_session, secure_cookies=secure_cookies)
    app.state.services = AppServices.over(
        store, target=target, secure_cookies=secure_cookies, renderer=renderer
    )
    for module in (routes_auth, routes_label, routes_admin_tasks, routes_admin, routes_collect):
        app.include_router(module.router)
    _add_error_pages(app)
    _add_security_headers(app)
    # Outermost first: the size limit before anything reads the body, then the writers' gate.
    app.add_middleware(WriteGate, wait_s=WRITE_WAIT_S, retry_after_s=RETRY_AFTER_S)
    app.add_middleware(BodyLimit)
    return app


def _error_page(request: Request, status_code: int, detail: str | None = None) -> Response:
    return services(request).renderer.page(
        request,
        "error.html",
        status_code=status_code,
        message_key=_ERROR_MESSAGES.get(status_code, "bad_input"),
        detail=detail,
        back=None,
    )


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if request.method == "GET":
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        if _LABEL_PAGE.fullmatch(request.url.path):
            # A label form sent after the session expired: back to it after logging in.
            return RedirectResponse(f"/login?expired=1&next={quote(request.url.path)}", status_code=303)
        return _error_page(request, 401)

    @app.exception_handler(StaleForm)
    async def stale_form(request: Request, _exc: StaleForm) -> Response:
        back = request.url.path if _LABEL_PAGE.fullmatch(request.url.path) else None
        return services(request).renderer.page(
            request, "error.html", status_code=403, message_key="stale_form", detail=None, back=back
        )

    @app.exception_handler(StoreBusy)
    async def store_busy(request: Request, _exc: StoreBusy) -> Response:
        page = _error_page(request, 503)
        page.headers["Retry-After"] = str(RETRY_AFTER_S)
        return page

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Forbidden) -> Response:
        return _error_page(request, 403)

    @app.exception_handler(TaskClosed)
    async def task_closed(request: Request, _exc: TaskClosed) -> Response:
        return services(request).renderer.page(
            request, "error.html", status_code=409, message_key="task_closed", detail=None, back=None
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # A detail is shown only when it is one of the UI's messages (a key): Starlette's own
        # details ("Method Not Allowed", multipart limits) are English and say nothing more.
        if isinstance(exc.detail, str) and exc.detail in MESSAGES:
            return services(request).renderer.page(
                request,
                "error.html",
                status_code=exc.status_code,
                message_key=exc.detail,
                detail=None,
                back=None,
            )
        return _error_page(request, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # A malformed or out-of-range id in the path names no page: 404, as for an unknown id.
        if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            return _error_page(request, 404)
        fields = ", ".join(".".join(str(p) for p in error.get("loc", ())[1:]) for error in exc.errors())
        detail = request_message(request, "missing_fields", fields=fields) if fields else None
        return _error_page(request, 400, detail)


def _add_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Pages show labels and model output: never keep them in a shared cache.
        response.headers.setdefault("Cache-Control", "no-store")
        return response
