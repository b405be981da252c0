"""The annotator's pages: their tasks with progress, one item at a time in their own order
(resuming at the first unlabelled one), and saving a label. Blind by construction: the page gets
``public_view`` of the item and the annotator's own label only."""

from __future__ import annotations

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from cvalues.annotate.auth import LoggedIn
from cvalues.annotate.db import RETRY_AFTER_S, StoreBusy
from cvalues.annotate.i18n import request_error
from cvalues.annotate.kinds import (
    REVIEW_LABELS,
    SAFETY_SCENARIOS,
    LabelError,
    parse_comment,
    parse_label,
)
from cvalues.annotate.records import AssignmentView
from cvalues.annotate.route_params import RowIdParam, TaskIdParam
from cvalues.annotate.run_sources import public_view
from cvalues.annotate.services import services
from cvalues.annotate.task_store import TaskClosed

router = APIRouter()


@router.get("/tasks")
def my_tasks(request: Request, login: LoggedIn) -> Response:
    app = services(request)
    return app.renderer.page(request, "tasks.html", progress=app.tasks.progress_for_user(login.user))


@router.get("/tasks/{task_id}")
def resume(request: Request, task_id: TaskIdParam, login: LoggedIn) -> Response:
    app = services(request)
    mine = [p for p in app.tasks.progress_for_user(login.user) if p.task_id == task_id]
    if not mine:
        _refuse_if_closed(app.tasks.assignment_at(task_id, login.user, 0))
        raise HTTPException(status_code=404)
    position = app.tasks.next_position(task_id, login.user)
    if position is None:
        return app.renderer.page(request, "done.html", progress=mine[0])
    return RedirectResponse(f"/tasks/{task_id}/{position}", status_code=303)


def _item_page(
    request: Request,
    view: AssignmentView,
    *,
    error: str | None = None,
    status_code: int = 200,
    busy: bool = False,
    **sticky: object,
) -> Response:
    page = services(request).renderer.page(
        request,
        "item.html",
        status_code=status_code,
        assignment=view,
        task=view.task,
        item=public_view(view.item.payload),
        label=sticky.get("label") or view.label or {},
        comment=sticky.get("comment", view.comment) or "",
        scenarios=SAFETY_SCENARIOS,
        review_labels=REVIEW_LABELS,
        error=error,
        busy=busy,
        retry_after=RETRY_AFTER_S,
    )
    if busy:
        page.headers["Retry-After"] = str(RETRY_AFTER_S)
    return page


def _refuse_if_closed(view: AssignmentView | None) -> None:
    """A closed task's items: 409 with "此任务已被管理员关闭" to the people who had them."""
    if view is not None and not view.task.is_open:
        raise TaskClosed(view.task.id)


@router.get("/tasks/{task_id}/{position}")
def show_item(request: Request, task_id: TaskIdParam, position: RowIdParam, login: LoggedIn) -> Response:
    view = services(request).tasks.assignment_at(task_id, login.user, position)
    if view is None:
        # 404 rather than 403: whether someone else has such an item is none of this user's business.
        raise HTTPException(status_code=404)
    _refuse_if_closed(view)
    return _item_page(request, view)


@router.post("/tasks/{task_id}/{position}")
def save_item(
    request: Request,
    task_id: TaskIdParam,
    position: RowIdParam,
    login: LoggedIn,
    verdict: str | None = Form(None),
    scenario: str | None = Form(None),
    score: str | None = Form(None),
    choice: str | None = Form(None),
    rewrite: str | None = Form(None),
    label: str | None = Form(None),
    comment: str | None = Form(None),
) -> Response:
    app = services(request)
    view = app.tasks.assignment_at(task_id, login.user, position)
    if view is None:
        raise HTTPException(status_code=404)
    _refuse_if_closed(view)  # save_label checks again, in its transaction
    fields = {
        "verdict": verdict,
        "scenario": scenario,
        "score": score,
        "choice": choice,
        "rewrite": rewrite,
        "label": label,
    }
    try:
        parsed = parse_label(view.task.kind, fields, n_replies=len(view.item.payload.get("replies") or []))
        note = parse_comment(comment)
    except LabelError as exc:
        sticky = {k: v for k, v in fields.items() if v}
        return _item_page(
            request,
            view,
            error=request_error(request, exc),
            status_code=400,
            label=sticky,
            comment=comment or "",
        )
    try:
        app.tasks.save_label(task_id, login.user, position, parsed, note)
    except StoreBusy:
        # The label is not lost: the page comes back filled in and resubmits itself (item.html).
        sticky = {k: v for k, v in fields.items() if v}
        return _item_page(request, view, status_code=503, busy=True, label=sticky, comment=comment or "")
    return RedirectResponse(f"/tasks/{task_id}", status_code=303)
