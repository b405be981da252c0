"""A run's identity: found by its output directory, checked against what determines its answers
and the items it asks about, refused with the differences listed (see ``tasks.run``)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError
from cvalues.store import Store
from cvalues.tasks.task import Task

# Written into a run directory when its run starts: a directory without it (deleted, or never
# used by this store) holds no run, whatever the store remembers of that path.
RUN_MARKER = ".cvalues-run"


def new_run_id(task: str) -> str:
    return f"{task}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def items_identity(keys: Iterable[str]) -> dict[str, Any]:
    """The item set as a count and a hash of the keys joined by \\x1f (read as a stream)."""
    digest, n = hashlib.sha256(), 0
    for key in keys:
        digest.update(("\x1f" if n else "").encode("utf-8") + key.encode("utf-8"))
        n += 1
    return {"n": n, "sha256": digest.hexdigest()[:16]}


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Human-readable differences, e.g. ``max_tokens 48 -> 40``, ``items 64 -> 8``."""
    changes: list[str] = []
    for key, value in new.items():
        before = old.get(key)
        if key == "items" and isinstance(value, dict):
            if not isinstance(before, dict) or before.get("sha256") != value.get("sha256"):
                n_before = before.get("n") if isinstance(before, dict) else "?"
                same_n = n_before == value.get("n")
                changes.append(f"items {n_before} -> {value.get('n')}" + (" (other items)" if same_n else ""))
        elif isinstance(value, dict) and isinstance(before, dict):
            changes += [
                f"{name} {before.get(name)!r} -> {v!r}" for name, v in value.items() if before.get(name) != v
            ]
        elif before != value:
            changes.append(f"{key} {before!r} -> {value!r}")
    return changes


def resolve_run(store: Store, task: Task, out_dir: Path, *, dataset_id: int | None, new_run: bool) -> str:
    """The run recorded for ``out_dir`` when its identity matches, else a new run (see the module doc)."""
    identity = {**task.identity(), "items": items_identity(task.item_keys())}
    previous = store.find_run_by_out_dir(out_dir)
    if previous is not None and not new_run and _marker(out_dir) == previous.id:
        changes = describe_changes(dict(previous.settings), identity)
        if previous.task != task.name:
            changes.insert(0, f"task {previous.task!r} -> {task.name!r}")
        if previous.dataset_id != dataset_id:
            changes.append("dataset")
        if changes:
            raise InputError(
                f"{out_dir} holds run {previous.id} made with other settings ({'; '.join(changes)}); "
                "re-run with the same settings to resume it, choose another --out, "
                "or pass --new-run to start a new run there",
                flag="--new-run",
            )
        return previous.id
    run_id = new_run_id(task.name)
    spec = task.model()
    store.create_run(
        run_id,
        task=task.name,
        model_spec=model_block(spec) if spec is not None else {},
        settings=identity,
        dataset_id=dataset_id,
        out_dir=out_dir,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RUN_MARKER).write_text(run_id + "\n", encoding="utf-8")
    return run_id


def _marker(out_dir: Path) -> str | None:
    try:
        return (out_dir / RUN_MARKER).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def model_block(spec: ModelSpec) -> dict[str, Any]:
    """How results.json and the store name a model (its chat format and remote-code trust included)."""
    return dict(spec.to_record())
