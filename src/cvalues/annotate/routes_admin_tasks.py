"""Admin pages that make and end tasks: "新建任务" from uploaded (or pasted) run files, through the
same ``create_task_from_runs`` as ``cvalues annotate add-task``; closing and reopening a task."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from cvalues.annotate.auth import AdminLogin
from cvalues.annotate.i18n import request_error
from cvalues.annotate.route_params import TaskIdParam
from cvalues.annotate.run_sources import MAX_PAIRWISE_RUNS
from cvalues.annotate.services import services
from cvalues.annotate.task_creation import (
    LABELLER_ROLES,
    TaskPlan,
    UploadedRun,
    check_plan,
    create_task_from_runs,
    name_uploads,
    upload_label,
    write_uploaded_run,
)
from cvalues.annotate.user_errors import UserInputError
from cvalues.core.errors import InputError
from cvalues.store.annotation_tables import TASK_KINDS

router = APIRouter(prefix="/admin")
# The admin page sends at most this many runs (pairwise reads 2 or 3).
RUN_SLOTS = MAX_PAIRWISE_RUNS


def _form_page(
    request: Request,
    *,
    error: str | None = None,
    status_code: int = 200,
    values: dict[str, object] | None = None,
) -> Response:
    app = services(request)
    return app.renderer.page(
        request,
        "admin_new_task.html",
        status_code=status_code,
        kinds=TASK_KINDS,
        roles=LABELLER_ROLES,
        people=[user for user in app.accounts.list_users() if user.role in LABELLER_ROLES],
        slots=range(1, RUN_SLOTS + 1),
        error=error,
        values=values or {"kind": "safety", "role": "annotator", "per_item": "1", "seed": "0", "name": ""},
    )


@router.get("/new-task")
def new_task_form(request: Request, login: AdminLogin) -> Response:
    return _form_page(request)


def _file(value: object) -> UploadFile | None:
    return value if isinstance(value, UploadFile) and value.filename else None


async def _uploaded_runs(request: Request, pasted: str) -> list[UploadedRun]:
    """The runs the form carries (``samples_N``, ``results_N``): slot 1 may be pasted text instead
    of a file; empty slots are skipped."""
    form = await request.form()  # parsed once already, by the CSRF check
    runs = []
    for slot in range(1, RUN_SLOTS + 1):
        samples = _file(form.get(f"samples_{slot}"))
        results_file = _file(form.get(f"results_{slot}"))
        if samples is not None and samples.filename:
            data = await samples.read()
            name = Path(samples.filename).name
        elif slot == 1 and pasted.strip():
            data, name = pasted.encode("utf-8"), "samples.jsonl"
        else:
            continue
        runs.append(
            UploadedRun(
                samples_name=name,
                samples=data,
                results_name=Path(results_file.filename or "results.json").name if results_file else None,
                results=await results_file.read() if results_file else None,
            )
        )
    return runs


def _create(request: Request, plan: TaskPlan, runs: list[UploadedRun]) -> str:
    """Store the task (in a worker thread: it reads files and writes many rows); its id."""
    app = services(request)
    check_plan(plan, len(runs))
    names: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="cvalues-upload-") as folder:
        run_dirs = []
        for index, run in enumerate(runs, start=1):
            run_dir = Path(folder) / f"run{index}"
            names.update(write_uploaded_run(run_dir, run, plan.kind))
            run_dirs.append(run_dir)
        try:
            created = create_task_from_runs(
                app.accounts, app.tasks, plan, run_dirs, source_label=upload_label(runs)
            )
        except InputError as exc:
            raise name_uploads(exc, names) from exc
    return created.task.id


@router.post("/tasks")
async def create_task(
    request: Request,
    login: AdminLogin,
    kind: str = Form(...),
    role: str = Form("annotator"),
    per_item: str = Form("1"),
    seed: str = Form("0"),
    name: str = Form(""),
    samples_text: str = Form(""),
) -> Response:
    form = await request.form()
    people = tuple(value for value in form.getlist("annotators") if isinstance(value, str))
    values: dict[str, object] = {
        "kind": kind,
        "role": role,
        "per_item": per_item,
        "seed": seed,
        "name": name,
        "annotators": people,
        "samples_text": samples_text,
    }
    try:
        plan = TaskPlan(
            kind=kind,
            per_item=_whole_number(per_item, "per_item", "每条的标注人数"),
            role=role,
            name=name.strip() or None,
            seed=_whole_number(seed, "seed", "随机种子"),
            annotators=people,
        )
        runs = await _uploaded_runs(request, samples_text)
        if not runs:
            raise UserInputError("samples_missing", flag="RUN_DIR")
        task_id = await run_in_threadpool(_create, request, plan, runs)
    except InputError as exc:
        status = 409 if getattr(exc, "key", None) == "task_exists" else 400
        return _form_page(request, error=request_error(request, exc), status_code=status, values=values)
    return RedirectResponse(f"/admin/tasks/{task_id}?created=1", status_code=303)


def _whole_number(value: str, field: str, field_zh: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise UserInputError("not_whole_number", field=field, field_zh=field_zh, value=repr(value)) from exc


@router.post("/tasks/{task_id}/state")
def set_task_state(
    request: Request, task_id: TaskIdParam, login: AdminLogin, closed: str = Form(...)
) -> Response:
    """Close (``closed=1``) or reopen (``closed=0``) a task."""
    if closed not in ("0", "1"):
        raise HTTPException(status_code=400)
    if not services(request).tasks.set_closed(task_id, closed == "1"):
        raise HTTPException(status_code=404)
    return RedirectResponse(f"/admin/tasks/{task_id}", status_code=303)
