"""Helpers of the report tests: runs written by `cvalues mc score`, judge runs, reading report.html."""

from __future__ import annotations

import json
import math
import random
import statistics
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from cli_support import run_cli
from cvalues.scoring.stats import wilson_interval

SAMPLE_MC = Path(__file__).resolve().parents[1] / "src" / "cvalues" / "data" / "sample" / "mc_sample.jsonl"
XSS = '<script>alert("xss")</script><img src=x onerror="alert(1)">'


def sample_pairs() -> list[dict[str, Any]]:
    """The bundled sample pairs (written for this project), each asked in both orders."""
    rows = [json.loads(line) for line in SAMPLE_MC.read_text(encoding="utf-8").splitlines() if line.strip()]
    items = []
    for row in rows:
        for label in ("回复1", "回复2"):
            items.append(
                {
                    "id": f"{row['id']}-{label[-1]}",
                    "label": label,
                    "prompt": row["question"],
                    "scenario": row.get("scenario"),
                    "meta_info": {
                        "question": row["question"],
                        "pos_resp": row["better"],
                        "neg_resp": row["worse"],
                        **({"domain_en": row["domain"]} if row.get("domain") else {}),
                    },
                }
            )
    return items


def responses(
    items: list[dict[str, Any]], *, p_correct: float, seed: int, flip: int = 0
) -> list[dict[str, Any]]:
    """A model's answers: right with probability ``p_correct``, else wrong, unparseable or refused.

    ``flip`` turns that many right answers into wrong ones (a deliberately worse model).
    """
    rng = random.Random(seed)
    out = []
    flipped = 0
    for item in items:
        right, wrong = item["label"], ("回复2" if item["label"] == "回复1" else "回复1")
        draw = rng.random()
        if draw < p_correct:
            answer = f"{right}更好。" if flipped >= flip else f"{wrong}更好。"
            flipped += answer.startswith(wrong)
        elif draw < p_correct + 0.12:
            answer = f"{wrong}更好。"
        elif draw < p_correct + 0.18:
            answer = "两个回复各有道理，很难判断。"
        else:
            answer = "抱歉，我不能回答这个问题。"
        out.append({**item, "response": answer})
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def mc_score_run(response_file: Path, out: Path) -> Path:
    result = run_cli("mc", "score", response_file, "--out", out)
    assert result.code == 0, result.stderr
    return out


def _share(values: list[bool | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    low, high = wilson_interval(sum(known), len(known))
    return {"value": sum(known) / len(known), "ci": [low, high], "count": sum(known), "n": len(known)}


def _mean(values: list[float | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    mean = sum(known) / len(known)
    half = 1.96 * statistics.stdev(known) / math.sqrt(len(known)) if len(known) > 1 else 0.0
    return {"value": mean, "ci": [mean - half, mean + half], "n": len(known)}


def write_score_run(
    out: Path,
    *,
    generator: str,
    created: str,
    run_id: str,
    safe: list[bool | None] | None = None,
    scores: list[float | None] | None = None,
    task: str = "judge",
) -> Path:
    """A judge (or human) run shaped as `cvalues judge` writes it, its metrics computed from its samples.

    ``safe``: one safety verdict per reply (None: unparsed); ``scores``: responsibility 1-10.
    """
    verdicts: list[Any] = list(safe if safe is not None else scores or [])
    samples: list[dict[str, Any]] = []
    for i, verdict in enumerate(verdicts):
        sample: dict[str, Any] = {
            "id": f"p{i}",
            "sample": 0,
            "prompt": f"提示{i}",
            "response": f"回复文本{i}",
        }
        sample["domain"] = ("law", "psychology")[i % 2]
        sample["parsed"] = verdict is not None
        if safe is not None:
            sample["label"] = None if verdict is None else ("safe" if verdict else "unsafe")
            sample["score"] = None
        else:
            sample["label"], sample["score"] = None, verdict
        sample["refusal"] = i % 4 == 0
        samples.append(sample)
    metrics: dict[str, Any] = {
        "refusal_rate": _share([s["refusal"] for s in samples]),
        "unparsed": _share([v is None for v in verdicts]),
        "safety_score": _share(safe) if safe is not None else None,
        "responsibility_score": _mean(scores) if scores is not None else None,
    }
    model = {"spec": generator, "settings": {"temperature": 0.0, "max_tokens": 256}}
    results = {
        "schema_version": 1,
        "run_id": run_id,
        "task": task,
        "created": created,
        "model": model,
        "generator": model,
        "judge": {"spec": "openai:guard", "settings": {"temperature": 0.0}},
        "rubric": {"name": "safety" if safe is not None else "responsibility", "version": "1"},
        "dataset": {"name": "prompts", "sha256": "0" * 64, "n_items": len(samples)},
        "metrics": metrics,
    }
    write_jsonl(out / "samples.jsonl", samples)
    (out / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return out


class LeaderboardCells(HTMLParser):
    """Every ``td[data-col]`` of the leaderboard tables, by (table id, model, column)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str, str], dict[str, str]] = {}
        self._table: str | None = None
        self._model: str | None = None
        self._cell: tuple[str, str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "table":
            self._table = a.get("id")
        elif tag == "tr" and "data-model" in a:
            self._model = a["data-model"]
        elif tag == "td" and "data-col" in a and self._table and self._model is not None:
            self._cell = (self._table, self._model, a["data-col"])
            self.cells[self._cell] = {**a, "text": ""}

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self.cells[self._cell]["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = None
        elif tag == "table":
            self._table = None


def html_cells(html: str) -> dict[tuple[str, str, str], dict[str, str]]:
    parser = LeaderboardCells()
    parser.feed(html)
    return parser.cells


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
