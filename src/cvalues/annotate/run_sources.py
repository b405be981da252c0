"""Items to annotate, read from run directories (``results.json`` + ``samples.jsonl``).

- A generation run (``cvalues generate``): each sample has ``id``, the prompt (``prompt`` text or
  chat ``messages``), the model's ``response``, and optionally ``domain``, ``scenario``,
  ``reference``/``references``. The model comes from ``results.json``'s ``model``. A run with
  several replies per prompt (``sample`` 0..k-1) gives one item per reply, keyed ``<id>#s<k>``.
- ``pairwise`` joins 2 or 3 generation runs on the sample ``id``; each item's replies are shown in
  a seeded random order, so an annotator cannot tell which model wrote which.
- ``mc-review``: the ``Need_Check`` rows of an MC run (``cvalues mc``); the true label is not copied.

Payloads keep the model names for admins and exports; ``public_view`` is what annotators get.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cvalues.annotate.user_errors import UserInputError
from cvalues.core.files import read_json
from cvalues.data.readers import Row, read_rows

MAX_PAIRWISE_RUNS = 3


@dataclass(frozen=True)
class SourceItem:
    key: str
    payload: dict[str, Any]


@dataclass
class TaskSource:
    """What ``add-task`` read: the items, the models and runs they came from, rows left out."""

    items: list[SourceItem]
    models: list[str]
    run_ids: list[str | None]
    source: str
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


def _run_files(run_dir: Path) -> tuple[dict[str, Any], list[Row]]:
    results_path, samples_path = run_dir / "results.json", run_dir / "samples.jsonl"
    if not results_path.is_file() or not samples_path.is_file():
        raise UserInputError("not_run_dir", path=run_dir)
    results = read_json(results_path)
    if not isinstance(results, dict):
        raise UserInputError("results_not_object", path=results_path)
    return results, read_rows(samples_path, fmt="jsonl")


def model_name(results: dict[str, Any]) -> str:
    """The model of a run as a spec string (``openai:qwen``), from ``results.json``'s ``model``."""
    model = results.get("model")
    if isinstance(model, str) and model:
        return model
    if isinstance(model, dict):
        for key in ("spec", "key", "name", "model"):
            value = model.get(key)
            if isinstance(value, str) and value:
                provider = model.get("provider")
                return f"{provider}:{value}" if key == "name" and provider else value
    return "unknown"


def _optional_text(value: Any, what: str, path: Path, line: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserInputError("field_not_text", path=path, line=line, what=what)
    return value or None


def _prompt_and_history(data: dict[str, Any], path: Path, line: int) -> tuple[str, list[list[str]]]:
    """The user turn to judge and the turns before it: ``prompt`` (+ ``history``), else chat ``messages``."""
    prompt = data.get("prompt")
    if isinstance(prompt, str) and prompt:
        history = data.get("history")
        turns = [[str(t[0]), str(t[1])] for t in history if len(t) == 2] if isinstance(history, list) else []
        return prompt, turns
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise UserInputError("sample_no_prompt", path=path, line=line)
    turns = []
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise UserInputError("message_shape", path=path, line=line, position=position)
        turns.append([str(message.get("role", "user")), message["content"]])
    last_user = max((i for i, (role, _) in enumerate(turns) if role == "user"), default=None)
    if last_user is None:
        raise UserInputError("messages_no_user", path=path, line=line)
    return turns[last_user][1], turns[:last_user]


def _references(data: dict[str, Any]) -> list[str]:
    value = data.get("references", data.get("reference"))
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v.strip()]
    return []


def _generation_rows(run_dir: Path) -> tuple[str, str | None, dict[str, dict[str, Any]], int]:
    """(model, run id, id -> sample payload, rows skipped because they have no reply)."""
    results, rows = _run_files(run_dir)
    if results.get("task") == "mc":
        raise UserInputError("mc_run_not_generation", path=run_dir)
    samples_path = run_dir / "samples.jsonl"
    by_id: dict[str, dict[str, Any]] = {}
    skipped = 0
    # Several replies per prompt (`cvalues generate --samples K`): each reply is an item, "id#s<k>".
    several = any(isinstance(row.data.get("sample"), int) and row.data["sample"] > 0 for row in rows)
    for row in rows:
        data, line = row.data, row.line
        item_id = data.get("id")
        if not isinstance(item_id, str | int) or str(item_id) == "":
            raise UserInputError("sample_no_id", path=samples_path, line=line)
        key = f"{item_id}#s{data.get('sample') or 0}" if several else str(item_id)
        if key in by_id:
            raise UserInputError("duplicate_id", path=samples_path, line=line, item=key)
        response = data.get("response")
        if not isinstance(response, str) or data.get("error"):
            skipped += 1  # a failed generation has nothing to judge
            continue
        prompt, history = _prompt_and_history(data, samples_path, line)
        by_id[key] = {
            "prompt": prompt,
            "history": history,
            "response": response,
            "domain": _optional_text(data.get("domain"), "domain", samples_path, line),
            "scenario": _optional_text(data.get("scenario"), "scenario", samples_path, line),
            "references": _references(data),
        }
    run_id = results.get("run_id")
    return model_name(results), str(run_id) if run_id is not None else None, by_id, skipped


def read_generation_run(run_dir: Path) -> TaskSource:
    """Items for ``safety`` and ``responsibility`` tasks: one per sample with a reply."""
    model, run_id, by_id, skipped = _generation_rows(run_dir)
    items = [SourceItem(key, {**payload, "model": model}) for key, payload in by_id.items()]
    if not items:
        raise UserInputError("no_replies", path=run_dir / "samples.jsonl")
    return TaskSource(items, [model], [run_id], str(run_dir.resolve()), skipped)


def read_pairwise_runs(run_dirs: list[Path], seed: int) -> TaskSource:
    """Items for ``pairwise``: the ids every run answered, replies in a seeded order per item."""
    if not 2 <= len(run_dirs) <= MAX_PAIRWISE_RUNS:
        raise UserInputError("pairwise_runs", flag="RUN_DIR", most=MAX_PAIRWISE_RUNS)
    runs = [_generation_rows(run_dir) for run_dir in run_dirs]
    common = [key for key in runs[0][2] if all(key in by_id for _, _, by_id, _ in runs[1:])]
    if not common:
        raise UserInputError("runs_share_nothing", flag="RUN_DIR")
    rng = random.Random(seed)
    items: list[SourceItem] = []
    for key in common:
        first = runs[0][2][key]
        replies = [{"text": by_id[key]["response"], "model": model} for model, _, by_id, _ in runs]
        rng.shuffle(replies)
        payload = {name: first[name] for name in ("prompt", "history", "domain", "scenario", "references")}
        items.append(SourceItem(key, {**payload, "replies": replies}))
    skipped = sum(len(by_id) for _, _, by_id, _ in runs) - len(common) * len(runs)
    source = " + ".join(str(run_dir.resolve()) for run_dir in run_dirs)
    models = [model for model, _, _, _ in runs]
    return TaskSource(items, models, [run_id for _, run_id, _, _ in runs], source, skipped)


def read_mc_review_run(run_dir: Path) -> TaskSource:
    """Items for ``mc-review``: the Need_Check rows of an MC run (without their true label)."""
    results, rows = _run_files(run_dir)
    if results.get("task") != "mc":
        raise UserInputError("not_mc_run", path=run_dir / "results.json")
    model = model_name(results)
    items = [
        SourceItem(
            str(row.data["id"]),
            {
                "prompt": row.data.get("prompt") or "",
                "history": [],
                "response": row.data.get("response") or "",
                "domain": row.data.get("domain"),
                "scenario": row.data.get("scenario"),
                "references": [],
                "model": model,
            },
        )
        for row in rows
        if row.data.get("pred") == "Need_Check" and "id" in row.data
    ]
    if not items:
        raise UserInputError("no_need_check", path=run_dir / "samples.jsonl")
    run_id = results.get("run_id")
    return TaskSource(items, [model], [str(run_id) if run_id is not None else None], str(run_dir.resolve()))


def public_view(payload: dict[str, Any]) -> dict[str, Any]:
    """What an annotator may see of an item: no model names, nothing a judge said."""
    view = {
        "prompt": payload.get("prompt") or "",
        "history": [list(turn) for turn in payload.get("history") or []],
        "domain": payload.get("domain"),
        "scenario": payload.get("scenario"),
        "references": list(payload.get("references") or []),
    }
    if "replies" in payload:
        view["replies"] = [reply["text"] for reply in payload["replies"]]
    else:
        view["response"] = payload.get("response") or ""
    return view
