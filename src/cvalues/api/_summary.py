"""summary.json: the paper's row for one model, each task's headline numbers, and what to do next.

The paper's row (Xu et al. 2023, Tables 3-5): Level-1 and Level-2 MC ``acc`` and ``acc*``, the
safety score (share of replies judged safe), the responsibility score (mean 1-10), plus the
refusal and over-refusal rates that need no judge. Every cell says which task it came from and on
how many items, and a cell that needs a judge says so instead of showing a number.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from cvalues.core.backend import ModelSpec
from cvalues.core.results import RESULTS_SCHEMA_VERSION, RunResults
from cvalues.tasks.suite import Suite

CHANCE_MC = 0.5  # two replies: a model that guesses scores 50%
# Which metric of a task fills each column, and whether it needs a judge.
COLUMNS: dict[str, tuple[str, bool]] = {
    "l1_mc": ("Level-1 MC acc / acc*", False),
    "l2_mc": ("Level-2 MC acc / acc*", False),
    "safety": ("safety score (judged safe)", True),
    "responsibility": ("responsibility score (1-10)", True),
    "refusal": ("refusal rate on Level-1 prompts", False),
    "over_refusal": ("over-refusal rate on answerable prompts", False),
}


def _cell(row: str, name: str, results: RunResults) -> dict[str, Any]:
    m = results.metrics
    n = (results.dataset or {}).get("n_items")
    if row in ("l1_mc", "l2_mc"):
        return {
            "task": name,
            "acc": m.get("acc"),
            "acc_ci": m.get("acc_ci"),
            "acc_star": m.get("acc_star"),
            "acc_star_ci": m.get("acc_star_ci"),
            "n": m.get("total"),
            "answered": m.get("pred_cnt"),
        }
    if row == "safety":
        share = m.get("safety_score") or {}
        return {"task": name, "value": share.get("value"), "ci": share.get("ci"), "n": share.get("n")}
    if row == "responsibility":
        score = m.get("responsibility_score") or {}
        return {"task": name, "value": score.get("value"), "ci": score.get("ci"), "n": score.get("n")}
    key = "refusal_rate" if row == "refusal" else "over_refusal_rate"
    share = m.get(key) or {}
    return {"task": name, "value": share.get("value"), "ci": share.get("ci"), "n": share.get("n", n)}


def paper_row(
    suite: Suite, tasks: dict[str, RunResults], failed: dict[str, str], skipped: dict[str, str]
) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column, (label, needs_judge) in COLUMNS.items():
        entry = next((t for t in suite.tasks if t.row == column), None)
        if entry is None:
            row[column] = {"label": label, "missing": "no task of this suite fills it"}
        elif entry.name in tasks:
            row[column] = {"label": label, **_cell(column, entry.name, tasks[entry.name])}
        elif entry.name in failed:
            row[column] = {"label": label, "task": entry.name, "failed": failed[entry.name]}
        else:
            why = skipped.get(entry.name, "not run")
            row[column] = {
                "label": label,
                "task": entry.name,
                "needs": "--judge" if needs_judge else None,
                "skipped": why,
            }
    return row


def _mc_notes(name: str, results: RunResults, out_dir: Path | None) -> list[str]:
    """Why a small model's MC numbers look as they do, and what to do about it."""
    m, notes = results.metrics, []
    total, unparsed = m.get("total") or 0, (m.get("need_check_cnt") or 0)
    mode = (results.model or {}).get("mode")
    if total and unparsed / total >= 0.2:
        where = out_dir / name if out_dir else name
        notes.append(
            f"{name}: {unparsed} of {total} answers named no reply (Need_Check) and count as wrong in acc; "
            f"label them by hand with `cvalues mc review {where} --export review.xlsx`, or read the "
            "logprob-mode task, which always gives an answer"
        )
    bias = (results.get("position_bias") or {}).get("share_reply1")
    if mode == "logprob" and bias is not None and (bias >= 0.9 or bias <= 0.1):
        notes.append(
            f"{name}: the model picked 回复{1 if bias >= 0.9 else 2} in {bias:.0%} of items "
            "whatever the order: "
            "a position bias, so its acc is chance level (50%), not knowledge"
        )
    return notes


def build_summary(
    suite: Suite,
    spec: ModelSpec,
    judge: ModelSpec | None,
    tasks: dict[str, RunResults],
    failed: dict[str, str],
    skipped: dict[str, str],
    *,
    report: Path | None,
    created: datetime,
    version: str,
) -> dict[str, Any]:
    out_dir = report.parent if report is not None else None
    notes: list[str] = []
    per_task: dict[str, Any] = {}
    for entry in suite.tasks:
        if entry.name in tasks:
            results = tasks[entry.name]
            execution = results.execution
            per_task[entry.name] = {
                "status": "failed" if results.failed_requests else "finished",
                "kind": entry.kind,
                "mode": entry.mode if entry.kind == "mc" else None,
                "level": entry.level,
                "run_id": results.run_id,
                "dir": entry.name,
                "dataset": {k: (results.dataset or {}).get(k) for k in ("name", "sha256", "n_items")},
                "metrics": results.metrics.model_dump(mode="json"),
                "execution": execution.model_dump(mode="json") if execution is not None else None,
            }
            if entry.kind == "mc":
                notes += _mc_notes(entry.name, results, out_dir)
            if entry.kind == "pairs":
                per_task[entry.name]["scorer"] = entry.scorer
            if results.failed_requests:
                notes.append(
                    f"{entry.name}: {results.failed_requests} request(s) failed; "
                    "re-run the same command to retry them"
                )
        elif entry.name in failed:
            per_task[entry.name] = {"status": "failed", "kind": entry.kind, "error": failed[entry.name]}
        else:
            per_task[entry.name] = {
                "status": "skipped",
                "kind": entry.kind,
                "reason": skipped.get(entry.name),
            }
    if judge is None and any(t.kind == "judge" for t in suite.tasks):
        notes.append(
            "the safety and responsibility scores need a judge model: add --judge SPEC "
            "(e.g. a Qwen3Guard server for safety); MC, refusal and over-refusal need none"
        )
    if report is not None:
        notes.append(f"the report with breakdowns and failure examples: {report}")
    return {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "cvalues_version": version,
        "created": created.isoformat(timespec="seconds"),
        "suite": {"name": suite.name, "description": suite.description, "source": suite.source},
        "model": {"spec": f"{spec.provider}:{spec.name}", "base_url": spec.base_url, "dtype": spec.dtype},
        "judge": None
        if judge is None
        else {"spec": f"{judge.provider}:{judge.name}", "base_url": judge.base_url},
        "chance": {"mc_acc": CHANCE_MC},
        "row": paper_row(suite, tasks, failed, skipped),
        "tasks": per_task,
        "failed": failed,
        "notes": notes,
        "report": str(report) if report is not None else None,
    }


__all__ = ["CHANCE_MC", "COLUMNS", "build_summary", "paper_row"]
