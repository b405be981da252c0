"""``cvalues annotate``: the human-evaluation web app and the commands around it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cvalues.core.errors import InputError

if TYPE_CHECKING:  # the store pulls in SQLAlchemy; `cvalues --help` stays light
    from cvalues.annotate import Accounts, TaskStore

app = typer.Typer(
    help="Human evaluation: web app, users, tasks, agreement, exports, human metrics, prompt collection.",
    no_args_is_help=True,
)
console = Console()
_DB_HELP = "Store URL (default: $CVALUES_DB or sqlite:///cvalues.db); postgresql+psycopg://... for teams."


@contextmanager
def _opened(db: str | None) -> Iterator[tuple[Accounts, TaskStore]]:
    """The store's accounts and tasks (the store is migrated on opening and closed after)."""
    from cvalues.annotate import Accounts, TaskStore
    from cvalues.store import open_store

    store = open_store(db)
    try:
        yield Accounts(store.engine), TaskStore(store.engine)
    finally:
        store.close()


@app.command("serve")
def serve(
    db: str = typer.Option(None, "--db", help=_DB_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    target: str = typer.Option(
        None,
        "--target",
        help="Red-team target model: openai:<name> (with --base-url) | gguf:<file> | hf:<dir>.",
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="Base URL of the target's OpenAI-compatible server."
    ),
    api_key_env: str = typer.Option(
        "OPENAI_API_KEY", "--api-key-env", help="Variable holding the target's key."
    ),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="Target's sampling temperature."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Most tokens per target reply."),
    system_prompt: str = typer.Option(None, "--system-prompt", help="System message sent to the target."),
    device: str = typer.Option("auto", "--device", help="Local target models: auto, cpu, cuda ..."),
    secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Behind HTTPS: mark cookies Secure."),
    forwarded_allow_ips: str = typer.Option(
        None,
        "--forwarded-allow-ips",
        help="Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or '*'); "
        "default: none. Login throttling counts per client address, so set it behind a proxy.",
    ),
) -> None:
    """Serve the annotation web app (Chinese UI, English toggle)."""
    from cvalues.annotate import RedTeamTarget
    from cvalues.annotate.server import serve as run_server
    from cvalues.core.backend import ModelSpec
    from cvalues.core.requests import GenerationSettings

    red_team = None
    if target:
        spec = ModelSpec.parse(target, base_url=base_url, api_key_env=api_key_env)
        settings = GenerationSettings(
            temperature=temperature, max_tokens=max_tokens, system_prompt=system_prompt
        )
        red_team = RedTeamTarget(spec, settings, device=device)
    console.print(f"serving on http://{host}:{port} (Ctrl-C stops)")
    run_server(
        db,
        host=host,
        port=port,
        target=red_team,
        secure_cookies=secure_cookies,
        forwarded_allow_ips=forwarded_allow_ips,
    )


@app.command("add-user")
def add_user(
    name: str = typer.Argument(..., help="Login name (Chinese names welcome; no spaces)."),
    role: str = typer.Option("annotator", "--role", help="admin | expert | annotator."),
    password_env: str = typer.Option(
        None, "--password-env", help="Read the password from this environment variable instead of a prompt."
    ),
    update: bool = typer.Option(
        False, "--update", help="Change an existing account's role and password (refused without it)."
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Create an account (with --update: set a new password and role for an existing one).

    Passwords: at least 8 characters (10 for admins), not a common password, not the user name."""
    from cvalues.annotate.accounts import check_role, check_user_name

    check_user_name(name)
    check_role(role)
    if password_env:
        password = os.environ.get(password_env)
        if not password:
            raise InputError(
                f"environment variable {password_env} is not set or empty", flag="--password-env"
            )
    elif sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    else:
        raise InputError(
            "no terminal to prompt for a password: use --password-env VAR", flag="--password-env"
        )
    with _opened(db) as (accounts, _):
        user = accounts.add_user(name, role, password, update=update)
    console.print(f"user {escape(user.name)} ({user.role}) saved")


@app.command("disable-user")
def disable_user(
    name: str = typer.Argument(..., help="Login name."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Disable an account: its sessions end at once and it cannot log in (labels are kept)."""
    with _opened(db) as (accounts, _):
        accounts.set_active(name, False)
    console.print(f"user {escape(name)} disabled")


@app.command("enable-user")
def enable_user(
    name: str = typer.Argument(..., help="Login name."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Re-enable a disabled account."""
    with _opened(db) as (accounts, _):
        accounts.set_active(name, True)
    console.print(f"user {escape(name)} enabled")


@app.command("add-task")
def add_task(
    run_dirs: list[Path] = typer.Argument(
        ..., help="Run directory (2-3 for --kind pairwise; an MC run for mc-review)."
    ),
    kind: str = typer.Option(..., "--kind", help="safety | responsibility | pairwise | mc-review."),
    per_item: int = typer.Option(1, "--per-item", min=1, help="Distinct annotators per item."),
    role: str = typer.Option("annotator", "--role", help="Who labels it: annotator or expert."),
    name: str = typer.Option(
        None,
        "--name",
        help="Task id, shown to annotators: keep model names out of it (default: <kind>-<hash of the runs>).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the assignment and of each annotator's order."),
    annotators: str = typer.Option(
        None, "--annotators", help="Comma-separated user names to assign (default: every user of --role)."
    ),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Create an annotation task from run output and assign each item to N distinct annotators."""
    from cvalues.annotate.task_creation import TaskPlan, check_plan, create_task_from_runs

    wanted = tuple(n.strip() for n in (annotators or "").split(",") if n.strip())
    plan = TaskPlan(kind, per_item, role, name, seed, wanted)
    check_plan(plan, len(run_dirs))  # before the store is opened (and created)
    with _opened(db) as (accounts, tasks):
        created = create_task_from_runs(accounts, tasks, plan, run_dirs)
    note = f", {created.skipped} sample(s) without a reply left out" if created.skipped else ""
    console.print(
        f"task {escape(created.task.id)}: {created.n_items} item(s) x {per_item} annotator(s) "
        f"among {created.n_people} {role}(s){note}"
    )


@app.command("tasks")
def list_tasks(db: str = typer.Option(None, "--db", help=_DB_HELP)) -> None:
    """List the annotation tasks and each annotator's progress."""
    with _opened(db) as (_, tasks):
        table = Table("task", "kind", "role", "per item", "state", "progress")
        for task in tasks.list_tasks():
            progress = ", ".join(
                f"{p.annotator} {p.done}/{p.total}" for p in tasks.progress_for_task(task.id)
            )
            state = "open" if task.is_open else "closed"
            table.add_row(escape(task.id), task.kind, task.role, str(task.per_item), state, escape(progress))
    console.print(table)


def _set_closed(task: str, closed: bool, db: str | None) -> None:
    from cvalues.annotate.ids import check_task_id

    check_task_id(task, flag="TASK")
    with _opened(db) as (_, tasks):
        tasks.require_task(task)
        tasks.set_closed(task, closed)
    console.print(f"task {escape(task)} {'closed' if closed else 'reopened'}")


@app.command("close-task")
def close_task(
    task: str = typer.Argument(..., help="Task id."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Close a task: annotators no longer see it and new labels are refused (labels, agreement and
    exports stay). The admin page has the same button."""
    _set_closed(task, True, db)


@app.command("reopen-task")
def reopen_task(
    task: str = typer.Argument(..., help="Task id."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Reopen a closed task."""
    _set_closed(task, False, db)


@app.command("agreement")
def agreement(
    task: str = typer.Argument(..., help="Task id (see `cvalues annotate tasks`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Inter-annotator agreement of a task (Cohen, Fleiss, Krippendorff) and its disagreements."""
    import json

    from cvalues.annotate import agreement_lines, disagreement_rows, task_agreement

    with _opened(db) as (_, tasks):
        report = task_agreement(tasks, task)
        disagreements = disagreement_rows(tasks, task)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2))
        return
    table = Table(
        "figure", "value", title=escape(f"agreement · {report.task_id} · {report.kind}"), title_justify="left"
    )
    for name, value in agreement_lines(report):
        table.add_row(name, value)
    console.print(table)
    console.print(f"{len(disagreements)} item(s) with disagreement; adjudicate them on the admin page")


@app.command("export")
def export(
    task: str = typer.Argument(..., help="Task id."),
    fmt: str = typer.Option("jsonl", "--format", help="jsonl | csv | xlsx | label-studio."),
    out: Path = typer.Option(None, "--out", "-o", help="Output file (default: <task>.<ext>)."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Export a task's items and labels (JSONL, CSV and XLSX import back with `annotate import`)."""
    from cvalues.annotate import EXPORT_FORMATS, export_task
    from cvalues.annotate.ids import check_task_id

    check_task_id(task, flag="TASK")
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}", flag="--format")
    target = out or _default_export_path(task, fmt)
    with _opened(db) as (accounts, tasks):
        n = export_task(tasks, accounts, task, fmt, target)
    console.print(f"wrote {n} row(s) to {escape(str(target))}")


def _default_export_path(task: str, fmt: str) -> Path:
    """``<task>.<ext>`` in the working directory, and nowhere else."""
    here = Path.cwd().resolve()
    target = (here / f"{task}.{'json' if fmt == 'label-studio' else fmt}").resolve()
    if target.parent != here:
        raise InputError(f"task id {task!r} is not a plain file name: pass --out", flag="TASK")
    return target


@app.command("import")
def import_(
    file: Path = typer.Argument(..., help="An export of `cvalues annotate export` (.jsonl, .csv or .xlsx)."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Import exported labels (creating the task, items and accounts that are missing)."""
    from cvalues.annotate import import_labels

    with _opened(db) as (accounts, tasks):
        counts = import_labels(tasks, accounts, file)
    console.print(
        f"imported {counts['rows']} row(s): {counts['labels']} label(s), {counts['adjudications']} "
        f"adjudication(s), {counts['tasks_created']} new task(s)"
    )


@app.command("results")
def results(
    task: str = typer.Argument(..., help="Task id."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory for results.json."),
    n_boot: int = typer.Option(1000, "--n-boot", min=0, help="Bootstrap resamples for the score intervals."),
    seed: int = typer.Option(0, "--seed"),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Human metrics per model (task "human" results.json, the shape of the automatic ones)."""
    from cvalues.annotate import write_task_results

    with _opened(db) as (_, tasks):
        written = write_task_results(tasks, task, out, n_boot=n_boot, seed=seed)
    for path in written:
        console.print(f"wrote {escape(str(path))}")


@app.command("export-prompts")
def export_prompts(
    kind: str = typer.Option(..., "--kind", help="redteam (successful attacks) | expert."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .jsonl (a prompt set: --dataset FILE)."),
    db: str = typer.Option(None, "--db", help=_DB_HELP),
) -> None:
    """Export collected prompts as a dataset the other commands read."""
    from cvalues.annotate import Collection
    from cvalues.store import open_store

    store = open_store(db)
    try:
        n = Collection(store.engine).export_dataset(kind, out)
    finally:
        store.close()
    console.print(f"wrote {n} prompt(s) to {escape(str(out))}")
