"""The typed shape of a run's output: ``results.json`` and the lines of ``samples.jsonl``.

Results are objects first and JSON second (as inspect_ai's ``EvalLog``): every task builds a
``RunResults``; the run core writes it, and ``read_results`` reads any results.json back, old
ones included. The models keep unknown fields (``extra="allow"``): each task adds its own blocks
(``position_bias``, ``by_domain``, ``rubric``, …), and files written by older versions, which
may lack newer fields, still load. Nothing is renamed on disk; fields are only added.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cvalues.core.errors import InputError
from cvalues.core.files import write_json, write_jsonl

# One version for every results.json the toolkit writes (mc, mc-score, generate, judge, judge-eval,
# human). Bumped only when a reader of the old shape would misread the new one.
RESULTS_SCHEMA_VERSION = 1


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access to any field, declared or extra (``metrics.get("acc_star")``)."""
        return getattr(self, key, default)


class Metrics(_Open):
    """A task's headline numbers. MC: ``acc``, ``acc_ci``, ``acc_star``, … (see ``compute_mc_metrics``);
    generation: refusal rates; judges: safety rate or mean score. All are attributes."""


class Execution(BaseModel):
    """How the answers were obtained: from the store, sent, deduplicated, failed."""

    model_config = ConfigDict(extra="allow")

    n_requests: int = 0
    n_cached: int = 0
    n_sent: int = 0
    n_deduplicated: int = 0
    n_failed: int = 0
    # Items whose prompt does not fit the model's context window: never sent (skipped, with the
    # reason as the sample's error) or cut by --truncate. Not failures: a re-run does not retry them.
    n_skipped: int = 0
    n_truncated: int = 0
    context_window: int | None = None
    first_error: str | None = None
    elapsed_s: float = 0.0
    items_per_s: float | None = None
    # How the requests travelled: "local" or "ray" (None: a file from before this was recorded).
    executor: str | None = None


class Sample(_Open):
    """One line of samples.jsonl: at least its ``id``; the task decides the rest."""

    id: str


class RunResults(_Open):
    """results.json. ``samples`` and ``out_dir`` travel with the object but are not part of the file."""

    schema_version: int = RESULTS_SCHEMA_VERSION
    cvalues_version: str
    run_id: str
    task: str
    created: str
    model: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    metrics: Metrics = Field(default_factory=Metrics)
    execution: Execution | None = None

    samples: list[Sample] = Field(default_factory=list, exclude=True)
    out_dir: Path | None = Field(default=None, exclude=True)

    def to_json(self) -> dict[str, Any]:
        """The results.json object (no ``execution`` block for a task that sent nothing)."""
        return self.model_dump(
            mode="json",
            exclude_none=False,
            exclude={"samples", "out_dir"} | ({"execution"} if self.execution is None else set()),
        )

    @property
    def failed_requests(self) -> int:
        return self.execution.n_failed if self.execution is not None else 0

    def write(self, out_dir: Path) -> None:
        """samples.jsonl first, results.json last: a results.json marks a complete pair of files."""
        write_jsonl(out_dir / "samples.jsonl", (s.model_dump(mode="json") for s in self.samples))
        write_json(out_dir / "results.json", self.to_json())


def read_results(run_dir: Path, *, with_samples: bool = True) -> RunResults:
    """A run directory's results.json (and samples.jsonl) as ``RunResults``."""
    path = run_dir / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("no results.json (not a finished run directory)", path=path) from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON ({exc.msg})", path=path, line=exc.lineno) from exc
    try:
        results = RunResults.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"not a cvalues results.json ({where}: {first['msg']})", path=path) from exc
    results.out_dir = run_dir
    if with_samples and (run_dir / "samples.jsonl").is_file():
        results.samples = list(read_samples(run_dir / "samples.jsonl"))
    return results


def read_samples(path: Path) -> list[Sample]:
    samples: list[Sample] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                samples.append(Sample.model_validate_json(line))
            except ValidationError as exc:
                raise InputError(
                    f"not a sample line ({exc.errors()[0]['msg']})", path=path, line=number
                ) from exc
    return samples


__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "Execution",
    "Metrics",
    "RunResults",
    "Sample",
    "read_results",
    "read_samples",
]
