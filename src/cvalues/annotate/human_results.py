"""``cvalues annotate results``: a task's labels as human metrics, in the ``results.json`` shape.

Safety and responsibility tasks go through ``cvalues.scoring.human_metrics``: an item an admin
adjudicated counts with the adjudicated label alone; the agreement figures are computed on every
annotator's own label. Pairwise tasks give each model's win rate (Wilson 95% interval) over the
items with a final choice. MC-review tasks write the sheet that ``cvalues mc review --import`` reads.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from cvalues.annotate.cell_safety import append_xlsx_row
from cvalues.annotate.kinds import final_label
from cvalues.annotate.records import ItemRecord, LabelRow, TaskRecord
from cvalues.annotate.task_store import TaskStore
from cvalues.core.files import write_json
from cvalues.scoring.human_metrics import Annotation, compute_human_metrics, human_results
from cvalues.scoring.stats import wilson_interval

ADJUDICATOR = "adjudication"
REVIEW_SHEET = "manual_review.xlsx"


def _dataset(task: TaskRecord, items: list[ItemRecord]) -> dict[str, Any]:
    canonical = json.dumps([[i.key, i.payload] for i in items], ensure_ascii=False, sort_keys=True)
    return {
        "name": task.id,
        "source": task.source,
        "sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        "n_items": len(items),
    }


def _annotation(task: TaskRecord, item: ItemRecord, annotator: str, label: dict[str, Any]) -> Annotation:
    payload = item.payload
    common: dict[str, Any] = {
        "item_id": item.key,
        "annotator": annotator,
        "kind": task.kind,
        "model": str(payload.get("model") or ""),
        "domain": payload.get("domain"),
        "scenario": payload.get("scenario"),
    }
    if task.kind == "safety":
        return Annotation(label=label["verdict"], harm_scenario=label.get("scenario"), **common)
    return Annotation(score=float(label["score"]), **common)


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-.")[:80] or "model"


def write_task_results(
    tasks: TaskStore, task_id: str, out_dir: Path, *, n_boot: int = 1000, seed: int = 0
) -> list[Path]:
    """Write the human metrics of a task under ``out_dir``; returns the files written.

    One model: ``out_dir/results.json``. Several (a task over several runs): one folder per model.
    """
    task = tasks.require_task(task_id)
    items = tasks.items(task_id)
    labels = tasks.labels(task_id)
    adjudicated = tasks.adjudications(task_id)
    if task.kind == "pairwise":
        return [_write_pairwise(task, items, labels, adjudicated, out_dir)]
    if task.kind == "mc-review":
        return [_write_review_sheet(task, items, labels, adjudicated, out_dir)]
    by_id = {item.id: item for item in items}
    every = [_annotation(task, by_id[row.item_id], row.annotator, row.label) for row in labels]
    final = [a for a, row in zip(every, labels, strict=True) if row.item_id not in adjudicated]
    final += [
        _annotation(task, by_id[item_id], ADJUDICATOR, label) for item_id, (label, _) in adjudicated.items()
    ]
    metrics = compute_human_metrics(final, n_boot=n_boot, seed=seed)
    agreement = compute_human_metrics(every, n_boot=0, seed=seed)
    dataset = _dataset(task, items)
    written: list[Path] = []
    for model, model_metrics in metrics.items():
        model_metrics = {**model_metrics, "agreement": agreement.get(model, model_metrics)["agreement"]}
        results = human_results(model_metrics, model=model or "unknown", dataset=dataset)
        results["annotation"] = {"task": task.id, "kind": task.kind, "n_adjudicated": len(adjudicated)}
        path = out_dir / "results.json" if len(metrics) == 1 else out_dir / _slug(model) / "results.json"
        write_json(path, results)
        written.append(path)
    return written


def _final_labels(
    task: TaskRecord, items: list[ItemRecord], labels: list[LabelRow], adjudicated: dict[int, Any]
) -> dict[int, dict[str, Any] | None]:
    by_item: dict[int, list[dict[str, Any]]] = {}
    for row in labels:
        by_item.setdefault(row.item_id, []).append(row.label)
    return {
        item.id: adjudicated[item.id][0]
        if item.id in adjudicated
        else final_label(task.kind, by_item.get(item.id, []))
        for item in items
    }


def _write_pairwise(
    task: TaskRecord,
    items: list[ItemRecord],
    labels: list[LabelRow],
    adjudicated: dict[int, Any],
    out_dir: Path,
) -> Path:
    finals = _final_labels(task, items, labels, adjudicated)
    models = list(task.meta.get("models") or [])
    wins = dict.fromkeys(models, 0)
    decided = 0
    for item in items:
        final = finals[item.id]
        if final is None:
            continue
        decided += 1
        winner = item.payload["replies"][int(final["choice"])]["model"]
        wins[winner] = wins.get(winner, 0) + 1
    win_rate = {
        model: {
            "value": count / decided if decided else None,
            "ci": list(wilson_interval(count, decided)) if decided else None,
            "n": decided,
        }
        for model, count in wins.items()
    }
    metrics = {
        "win_rate": win_rate,
        "n_items": len(items),
        "n_decided": decided,
        "n_annotations": len(labels),
    }
    results = human_results({"metrics": metrics}, model=" vs ".join(models), dataset=_dataset(task, items))
    results["annotation"] = {"task": task.id, "kind": task.kind, "n_adjudicated": len(adjudicated)}
    path = out_dir / "results.json"
    write_json(path, results)
    return path


def _write_review_sheet(
    task: TaskRecord,
    items: list[ItemRecord],
    labels: list[LabelRow],
    adjudicated: dict[int, Any],
    out_dir: Path,
) -> Path:
    """The ``cvalues mc review`` sheet (id, prompt, response, manual_label) with the final labels."""
    finals = _final_labels(task, items, labels, adjudicated)
    book = Workbook()
    sheet = book.active
    sheet.title = "review"
    sheet.append(("id", "prompt", "response", "manual_label"))
    for item in items:
        final = finals[item.id]
        append_xlsx_row(
            sheet,
            [
                item.key,
                item.payload.get("prompt", ""),
                item.payload.get("response", ""),
                final and final["label"],
            ],
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / REVIEW_SHEET
    book.save(path)
    return path
