"""Server-rendered pages: Jinja2 with autoescaping on, a per-response CSP nonce for the one inline
script and style, and the common context (user, language, CSRF token)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cvalues.annotate.accounts import LoginSession
from cvalues.annotate.i18n import LANG_COOKIE, MESSAGES, pick_language, translator
from cvalues.annotate.kinds import VERDICTS, label_summary
from cvalues.annotate.login_token import LOGIN_CSRF_COOKIE, login_csrf_token

TEMPLATES_DIR = Path(__file__).resolve().with_name("templates")
_LOGIN_COOKIE_MAX_AGE = 3600


# Bidirectional controls (U+202A-202E, U+2066-2069, LRM/RLM/ALM) can make a reply read backwards
# ("RLO" tricks): every value a page shows has them replaced by a visible mark, never applied.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


def show_bidi_controls(value: Any) -> Any:
    """``value`` with each bidi control character shown as ``[U+202E]`` (Markup is left as is)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return _BIDI_CONTROLS.sub(lambda match: f"[U+{ord(match.group()):04X}]", value)
    return value


def page_words(t: Callable[..., str]) -> dict[str, Callable[..., str]]:
    """Helpers the templates use to word data in the page's language: ``label_text(kind, label)``
    (verdicts and review labels translated) and ``speaker(role)`` (user, assistant, system)."""

    def word(value: str) -> str:
        key = value if value in VERDICTS else f"review_{value}"
        return t(key) if key in MESSAGES else value

    def label_text(kind: str, label: dict[str, Any] | None) -> str:
        return label_summary(kind, label, word)

    def speaker(role: str) -> str:
        key = f"speaker_{role}"
        return t(key) if key in MESSAGES else role

    return {"label_text": label_text, "speaker": speaker}


class Renderer:
    def __init__(
        self,
        templates_dir: Path = TEMPLATES_DIR,
        *,
        session_of: Callable[[Request], LoginSession | None] = lambda _request: None,
        secure_cookies: bool = False,
    ) -> None:
        # ``session_of`` is auth.current_session, handed in by create_app: importing it here
        # would make a cycle (auth -> services -> rendering -> auth).
        self.session_of = session_of
        self.secure_cookies = secure_cookies
        # autoescape=True for every template: model output and user text are untrusted.
        self.env = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            finalize=show_bidi_controls,
        )

    def page(
        self, request: Request, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        session = self.session_of(request)
        language = pick_language(request.cookies.get(LANG_COOKIE))
        csrf_token = session.csrf_token if session is not None else login_csrf_token(request)
        nonce = secrets.token_urlsafe(16)
        t = translator(language)
        html = self.env.get_template(template).render(
            t=t,
            **page_words(t),
            lang=language,
            user=session.user if session is not None else None,
            csrf_token=csrf_token,
            nonce=nonce,
            # With the query, so that the language toggle keeps e.g. the red-team chat open.
            path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        )
        response = HTMLResponse(html, status_code=status_code)
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        if session is None and request.cookies.get(LOGIN_CSRF_COOKIE) != csrf_token:
            response.set_cookie(
                LOGIN_CSRF_COOKIE,
                csrf_token,
                max_age=_LOGIN_COOKIE_MAX_AGE,
                httponly=True,
                samesite="lax",
                secure=self.secure_cookies,
            )
        return response
