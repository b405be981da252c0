"""Running the real ``cvalues`` command in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cvalues.scoring.metrics import ScoredSample, compute_mc_metrics

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def cli_env(cache: Path | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CVALUES_")}
    if cache is not None:
        env["CVALUES_CACHE"] = str(cache)
    env["COLUMNS"] = "160"
    env.update(extra)
    return env


def run_cli(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 600
) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "cvalues", *map(str, args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env or cli_env(),
        cwd=cwd,
        timeout=timeout,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def read_samples(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def recompute_from_samples(out: Path) -> dict[str, Any]:
    """The metrics as anyone could recompute them from samples.jsonl alone."""
    samples = [
        ScoredSample(
            id=r["id"],
            label=r["label"],
            pred=r["pred"],
            domain=r["domain"],
            difficulty=r["difficulty"],
            scenario=r["scenario"],
            pair_id=r["pair_id"],
            question_key=r["question_key"],
            n_options=r.get("n_options") or 0,
        )
        for r in read_samples(out)
        if r["pred"] is not None
    ]
    return compute_mc_metrics(samples)


def score_response_file(
    path: Path, *, out_dir: Path | None = None, **options: Any
) -> tuple[dict[str, Any], list]:
    """(results.json, samples) of `cvalues mc score` on ``path`` through the Python API."""
    from cvalues.api import mc_score

    results = mc_score(path, out=out_dir, **options)
    return results.to_json(), [sample.model_dump(mode="json") for sample in results.samples]
