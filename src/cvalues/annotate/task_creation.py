"""Creating an annotation task from run output: the one path that ``cvalues annotate add-task`` and
the admin page's "新建任务" form both take, so that a task id, a kind, a role, the runs and the
annotators are checked the same way wherever a task is made.

The admin page has no run directory on the server: it writes the uploaded (or pasted)
``samples.jsonl`` and optional ``results.json`` of each run into a temporary run directory
(``write_uploaded_run``) and calls ``create_task_from_runs`` like the CLI; errors that name the
temporary files are given back with the uploaded names (``name_uploads``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cvalues.annotate.accounts import Accounts, User
from cvalues.annotate.ids import check_task_id
from cvalues.annotate.kinds import LabelError, check_kind
from cvalues.annotate.records import TaskRecord
from cvalues.annotate.run_sources import (
    MAX_PAIRWISE_RUNS,
    TaskSource,
    read_generation_run,
    read_mc_review_run,
    read_pairwise_runs,
)
from cvalues.annotate.task_store import TaskStore
from cvalues.annotate.user_errors import UserInputError
from cvalues.core.errors import InputError

LABELLER_ROLES: tuple[str, ...] = ("annotator", "expert")
# The store keeps the seed in a 32-bit integer column (PostgreSQL INTEGER).
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class TaskPlan:
    """What a new task should be: the add-task flags, or the admin form's fields."""

    kind: str
    per_item: int = 1
    role: str = "annotator"
    # None: ``<kind>-<8 hex of the source>``, never the run directory's name (often the model's).
    name: str | None = None
    seed: int = 0
    # Empty: every user with ``role``.
    annotators: tuple[str, ...] = ()


@dataclass(frozen=True)
class CreatedTask:
    task: TaskRecord
    n_items: int
    n_people: int
    skipped: int


def check_plan(plan: TaskPlan, n_runs: int) -> None:
    """Refuse a plan before any file is read: kind, role, people per item, task id, number of runs."""
    try:
        check_kind(plan.kind)
    except LabelError as exc:
        raise UserInputError(exc.key, flag="--kind", **exc.fields) from exc
    if plan.role not in LABELLER_ROLES:
        raise UserInputError("task_role", flag="--role", value=repr(plan.role))
    if plan.per_item < 1:
        raise UserInputError("per_item_min", flag="--per-item", value=plan.per_item)
    if not 0 <= plan.seed <= MAX_SEED:
        raise UserInputError("seed_range", flag="--seed", most=MAX_SEED, value=plan.seed)
    if plan.name is not None:
        check_task_id(plan.name, flag="--name")
    if plan.kind == "pairwise" and not 2 <= n_runs <= MAX_PAIRWISE_RUNS:
        raise UserInputError("pairwise_runs", flag="RUN_DIR", most=MAX_PAIRWISE_RUNS)
    if plan.kind != "pairwise" and n_runs != 1:
        raise UserInputError("one_run_only", flag="RUN_DIR", kind=plan.kind)


def read_task_source(kind: str, run_dirs: Sequence[Path], seed: int) -> TaskSource:
    """The items of a task of ``kind`` from its run directories."""
    if kind == "pairwise":
        return read_pairwise_runs(list(run_dirs), seed)
    if kind == "mc-review":
        return read_mc_review_run(run_dirs[0])
    return read_generation_run(run_dirs[0])


def _chosen_people(accounts: Accounts, plan: TaskPlan) -> list[User]:
    everyone = accounts.list_users()
    if not plan.annotators:
        return [user for user in everyone if user.role == plan.role]
    by_name = {user.name: user for user in everyone}
    wanted = list(dict.fromkeys(name.strip() for name in plan.annotators if name.strip()))
    for name in wanted:
        if name not in by_name:
            raise UserInputError("no_user", flag="--annotators", name=name)
    return [by_name[name] for name in wanted]


def create_task_from_runs(
    accounts: Accounts,
    tasks: TaskStore,
    plan: TaskPlan,
    run_dirs: Sequence[Path],
    *,
    source_label: str | None = None,
) -> CreatedTask:
    """Check ``plan``, read the runs, store the task and assign each item to ``per_item`` people.

    ``source_label`` replaces the run directories' paths as the task's recorded source (uploads)."""
    check_plan(plan, len(run_dirs))
    source = read_task_source(plan.kind, run_dirs, plan.seed)
    if source_label is not None:
        source.source = source_label
    task_id = plan.name or f"{plan.kind}-{hashlib.sha256(source.source.encode('utf-8')).hexdigest()[:8]}"
    check_task_id(task_id, flag="--name")
    people = _chosen_people(accounts, plan)
    task = tasks.create_task(task_id, plan.kind, plan.role, plan.per_item, plan.seed, source, people)
    return CreatedTask(task, len(source.items), len(people), source.skipped)


# -- uploads (the admin page) ----------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedRun:
    """One run as uploaded: its samples (JSONL bytes) and, optionally, its results.json."""

    samples_name: str
    samples: bytes
    results_name: str | None = None
    results: bytes | None = None


def write_uploaded_run(folder: Path, run: UploadedRun, kind: str) -> dict[str, str]:
    """Lay ``run`` out as a run directory in ``folder``; the temporary paths -> the uploaded names.

    Without a results.json the model is recorded as ``unknown`` and the run's task follows ``kind``
    (an MC run for mc-review, a generation run otherwise)."""
    folder.mkdir(parents=True)
    samples_path, results_path = folder / "samples.jsonl", folder / "results.json"
    samples_path.write_bytes(run.samples)
    if run.results is not None:
        results_path.write_bytes(run.results)
    else:
        stand_in = {"task": "mc" if kind == "mc-review" else "generate", "model": "unknown"}
        results_path.write_text(json.dumps(stand_in), encoding="utf-8")
    return {
        str(samples_path): run.samples_name,
        str(results_path): run.results_name or "results.json",
        str(folder): run.samples_name,
    }


def upload_label(runs: Sequence[UploadedRun]) -> str:
    """The recorded source of uploaded runs: their names and a digest of their bytes (so the default
    task id is the same for the same files)."""
    digest = hashlib.sha256()
    for run in runs:
        digest.update(run.samples)
        digest.update(run.results or b"")
    names = " + ".join(run.samples_name for run in runs)
    return f"upload:{names}@{digest.hexdigest()[:12]}"


def name_uploads(exc: InputError, names: Mapping[str, str]) -> InputError:
    """``exc`` with a temporary upload path replaced by the name the file was uploaded under."""
    if exc.path is None:
        return exc
    for temporary, uploaded in names.items():
        if exc.path == temporary or Path(exc.path) == Path(temporary):
            exc.path = uploaded
            return exc
    return exc
