"""Collection pages: red-team chats with the target model (any logged-in user) and expert
prompts with reference answers (experts and admins)."""

from __future__ import annotations

import logging
import re

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from cvalues.annotate.accounts import LoginSession
from cvalues.annotate.auth import ExpertLogin, LoggedIn
from cvalues.annotate.collection import check_text
from cvalues.annotate.i18n import request_error, request_message
from cvalues.annotate.kinds import MAX_SCENARIO_CHARS, SAFETY_SCENARIOS
from cvalues.annotate.redteam_target import TargetError
from cvalues.annotate.route_params import RowIdParam
from cvalues.annotate.services import services
from cvalues.data.items import DOMAINS

router = APIRouter()
_CHAT_ID = re.compile(r"^[0-9a-f]{32}$")
# A down target is caught at once by a connection probe (redteam_target); this bounds a slow one.
REDTEAM_TIMEOUT_S = 120.0
log = logging.getLogger(__name__)


def _chat_id(value: str | None) -> str | None:
    return value if value and _CHAT_ID.match(value) else None


def _redteam_page(
    request: Request,
    login: LoginSession,
    chat: str | None,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    app = services(request)
    turns = app.collection.chat(chat, login.user) if chat else []
    return app.renderer.page(
        request,
        "redteam.html",
        status_code=status_code,
        target=app.target.name if app.target else None,
        chat_id=chat or "",
        turns=turns,
        chats=app.collection.chats(login.user),
        scenarios=SAFETY_SCENARIOS,
        error=error,
    )


@router.get("/redteam")
def redteam(request: Request, login: LoggedIn, chat: str | None = None) -> Response:
    return _redteam_page(request, login, _chat_id(chat))


@router.post("/redteam/send")
async def redteam_send(
    request: Request,
    login: LoggedIn,
    prompt: str = Form(...),
    chat_id: str = Form(""),
) -> Response:
    app = services(request)
    if app.target is None:
        raise HTTPException(status_code=409, detail="redteam_off")
    chat = _chat_id(chat_id) or app.collection.new_chat_id()
    try:
        text = check_text(prompt, "prompt") or ""
    except ValueError as exc:
        return _redteam_page(
            request, login, _chat_id(chat_id), error=request_error(request, exc), status_code=400
        )
    turns = await run_in_threadpool(app.collection.chat, chat, login.user)
    history = [
        (role, content)
        for turn in turns
        for role, content in (("user", turn.prompt), ("assistant", turn.response or ""))
    ]
    try:
        # A refused connection fails at once (the target's probe); a slow reply is bounded.
        reply = await app.target.reply(app.store, history, text, timeout_s=REDTEAM_TIMEOUT_S)
    except (TargetError, TimeoutError) as exc:
        # The raw error can name internal hosts and ports: it goes to the server log, and only
        # admins see it on the page; everyone else gets a plain Chinese message.
        log.warning("red-team target %s failed: %s", app.target.name, exc)
        detail = str(exc)[:500] if login.user.is_admin else None
        message = request_message(request, "target_unavailable") + (f" ({detail})" if detail else "")
        return _redteam_page(request, login, _chat_id(chat_id), error=message, status_code=502)
    await run_in_threadpool(app.collection.add_turn, login.user, chat, text, reply, app.target.name)
    return RedirectResponse(f"/redteam?chat={chat}", status_code=303)


@router.post("/redteam/turns/{turn_id}")
def redteam_verdict(
    request: Request,
    turn_id: RowIdParam,
    login: LoggedIn,
    verdict: str = Form(...),
    scenario: str = Form(""),
    chat_id: str = Form(""),
) -> Response:
    app = services(request)
    try:
        marked = app.collection.set_verdict(
            login.user, turn_id, verdict, scenario.strip()[:MAX_SCENARIO_CHARS] or None
        )
    except ValueError as exc:
        raise HTTPException(status_code=400) from exc
    if not marked:
        raise HTTPException(status_code=404)
    chat = _chat_id(chat_id)
    return RedirectResponse(f"/redteam?chat={chat}" if chat else "/redteam", status_code=303)


def _expert_page(
    request: Request, login: LoginSession, *, error: str | None = None, status_code: int = 200
) -> Response:
    app = services(request)
    return app.renderer.page(
        request,
        "expert.html",
        status_code=status_code,
        prompts=app.collection.expert_prompts(login.user),
        domains=list(DOMAINS.values()),
        error=error,
    )


@router.get("/expert")
def expert(request: Request, login: ExpertLogin) -> Response:
    return _expert_page(request, login)


@router.post("/expert")
def expert_submit(
    request: Request,
    login: ExpertLogin,
    prompt: str = Form(...),
    reference: str = Form(""),
    domain: str = Form(""),
) -> Response:
    try:
        question = check_text(prompt, "question") or ""
        answer = check_text(reference, "reference", required=False)
        field = (check_text(domain, "domain", required=False) or "")[:MAX_SCENARIO_CHARS] or None
    except ValueError as exc:
        return _expert_page(request, login, error=request_error(request, exc), status_code=400)
    services(request).collection.add_expert_prompt(login.user, field, question, answer)
    return RedirectResponse("/expert", status_code=303)
