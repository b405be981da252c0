"""Admin pages (admins only, 403 for everyone else): tasks and users, per-annotator progress,
agreement figures, the disagreement list, adjudication, collected prompts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from cvalues.annotate.agreement_report import agreement_figures, disagreement_rows, task_agreement
from cvalues.annotate.auth import AdminLogin
from cvalues.annotate.i18n import request_error
from cvalues.annotate.kinds import (
    REVIEW_LABELS,
    SAFETY_SCENARIOS,
    LabelError,
    parse_comment,
    parse_label,
)
from cvalues.annotate.route_params import RowIdParam, TaskIdParam
from cvalues.annotate.run_sources import public_view
from cvalues.annotate.services import services
from cvalues.core.errors import InputError
from cvalues.store.annotation_tables import ROLES

router = APIRouter(prefix="/admin")
_EXCERPT_CHARS = 160


@router.get("")
def overview(request: Request, login: AdminLogin, saved: str | None = None) -> Response:
    app = services(request)
    tasks = app.tasks.list_tasks()
    progress = {task.id: app.tasks.progress_for_task(task.id) for task in tasks}
    return app.renderer.page(
        request,
        "admin.html",
        tasks=tasks,
        progress=progress,
        users=app.accounts.list_users(),
        disabled=app.accounts.disabled_names(),
        roles=ROLES,
        collected=app.collection.counts(),
        saved=saved,
        error=None,
    )


@router.post("/users")
def add_user(
    request: Request,
    login: AdminLogin,
    name: str = Form(...),
    role: str = Form(...),
    password: str = Form(...),
    update: str = Form(""),
) -> Response:
    app = services(request)
    try:
        user = app.accounts.add_user(name.strip(), role, password, update=update == "1")
    except InputError as exc:
        return _overview_with_error(request, request_error(request, exc))
    return RedirectResponse(f"/admin?saved={user.name}", status_code=303)


@router.post("/users/{name}/active")
def set_user_active(request: Request, name: str, login: AdminLogin, active: str = Form(...)) -> Response:
    app = services(request)
    if app.accounts.get_user(name) is None:
        raise HTTPException(status_code=404)
    try:
        app.accounts.set_active(name, active == "1")
    except InputError as exc:
        return _overview_with_error(request, request_error(request, exc))
    return RedirectResponse(f"/admin?saved={name}", status_code=303)


def _overview_with_error(request: Request, message: str) -> Response:
    app = services(request)
    tasks = app.tasks.list_tasks()
    return app.renderer.page(
        request,
        "admin.html",
        status_code=400,
        tasks=tasks,
        progress={task.id: app.tasks.progress_for_task(task.id) for task in tasks},
        users=app.accounts.list_users(),
        disabled=app.accounts.disabled_names(),
        roles=ROLES,
        collected=app.collection.counts(),
        saved=None,
        error=message,
    )


@router.get("/tasks/{task_id}")
def task_page(
    request: Request, task_id: TaskIdParam, login: AdminLogin, created: str | None = None
) -> Response:
    app = services(request)
    task = app.tasks.get_task(task_id)
    if task is None:
        raise HTTPException(status_code=404)
    report = task_agreement(app.tasks, task_id)
    disagreements = disagreement_rows(app.tasks, task_id)
    flagged = {row.item_id for row in disagreements}
    # The item's text beside its labels, so that most disagreements can be judged from the list.
    excerpts = {
        item.id: (str(item.payload.get("prompt", ""))[:_EXCERPT_CHARS], _reply_excerpt(item.payload))
        for item in app.tasks.items(task_id)
        if item.id in flagged
    }
    return app.renderer.page(
        request,
        "admin_task.html",
        task=task,
        progress=app.tasks.progress_for_task(task_id),
        figures=agreement_figures(report),
        report=report,
        disagreements=disagreements,
        excerpts=excerpts,
        created=created is not None,
    )


def _reply_excerpt(payload: dict[str, object]) -> str:
    replies = payload.get("replies")
    if isinstance(replies, list):
        text = " | ".join(str(reply.get("text", "")) for reply in replies if isinstance(reply, dict))
    else:
        text = str(payload.get("response") or "")
    return text[:_EXCERPT_CHARS]


def _item_context(request: Request, task_id: str, item_id: int) -> dict[str, Any]:
    app = services(request)
    task = app.tasks.get_task(task_id)
    item = app.tasks.get_item(task_id, item_id) if task is not None else None
    if task is None or item is None:
        raise HTTPException(status_code=404)
    labels = [row for row in app.tasks.labels(task_id) if row.item_id == item_id]
    final = app.tasks.adjudications(task_id).get(item_id)
    return {
        "task": task,
        "item": item,
        "payload": item.payload,
        "view": public_view(item.payload),
        "labels": [(row.annotator, row.label, row.comment) for row in labels],
        "final": final[0] if final else {},
        "note": (final[1] if final else None) or "",
        "scenarios": SAFETY_SCENARIOS,
        "review_labels": REVIEW_LABELS,
        "error": None,
    }


@router.get("/tasks/{task_id}/items/{item_id}")
def item_page(request: Request, task_id: TaskIdParam, item_id: RowIdParam, login: AdminLogin) -> Response:
    return services(request).renderer.page(
        request, "admin_item.html", **_item_context(request, task_id, item_id)
    )


@router.post("/tasks/{task_id}/items/{item_id}")
def adjudicate(
    request: Request,
    task_id: TaskIdParam,
    item_id: RowIdParam,
    login: AdminLogin,
    verdict: str | None = Form(None),
    scenario: str | None = Form(None),
    score: str | None = Form(None),
    choice: str | None = Form(None),
    rewrite: str | None = Form(None),
    label: str | None = Form(None),
    note: str | None = Form(None),
) -> Response:
    app = services(request)
    context = _item_context(request, task_id, item_id)
    task, item = context["task"], context["item"]
    fields = {
        "verdict": verdict,
        "scenario": scenario,
        "score": score,
        "choice": choice,
        "rewrite": rewrite,
        "label": label,
    }
    try:
        n_replies = len(item.payload.get("replies") or [])  # type: ignore[attr-defined]
        final = parse_label(task.kind, fields, n_replies=n_replies)  # type: ignore[attr-defined]
        reason = parse_comment(note)
    except LabelError as exc:
        context.update(
            error=request_error(request, exc), final={k: v for k, v in fields.items() if v}, note=note or ""
        )
        return app.renderer.page(request, "admin_item.html", status_code=400, **context)
    app.tasks.adjudicate(task_id, item_id, final, reason, login.user)
    return RedirectResponse(f"/admin/tasks/{task_id}", status_code=303)


@router.get("/collected")
def collected(request: Request, login: AdminLogin) -> Response:
    app = services(request)
    return app.renderer.page(
        request,
        "admin_collected.html",
        attacks=app.collection.successful_attacks(),
        expert=app.collection.expert_prompts(),
    )
