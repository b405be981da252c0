"""Reading run directories for reports: ``results.json`` and ``samples.jsonl``, by schema version.

A report never recomputes a number silently: it shows what each run wrote. ``verify_run``
recomputes the MC metrics from ``samples.jsonl`` and says where they differ, so a hand-edited or
truncated run is caught rather than trusted.

A run that cannot be read (unknown ``schema_version`` or task, invalid JSON, metrics missing) is
listed as skipped with the reason; the report goes on with the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cvalues.scoring.metrics import ScoredSample, compute_mc_metrics

KNOWN_SCHEMA_VERSIONS = frozenset({1})
MC_TASKS = frozenset({"mc", "mc-score"})
# Free-form replies scored by an automatic judge (issue 3) or by people (issue 4).
SCORE_TASKS = frozenset({"generate", "judge", "human"})
KNOWN_TASKS = MC_TASKS | SCORE_TASKS
_MC_REQUIRED = (
    "total",
    "correct",
    "pred_cnt",
    "refuse_cnt",
    "other_cnt",
    "need_check_cnt",
    "acc",
    "acc_star",
)
_VERIFIED_KEYS = ("metrics", "position_bias", "pair_consistency", "by_domain", "by_difficulty", "by_scenario")


def dict_block(results: dict[str, Any], key: str) -> dict[str, Any]:
    """``results[key]`` when it is an object, else an empty one (files from older or other tools)."""
    value = results.get(key)
    return value if isinstance(value, dict) else {}


@dataclass
class Run:
    """One run as written: its results, its samples (None when samples.jsonl is absent), warnings."""

    path: Path
    results: dict[str, Any]
    samples: list[dict[str, Any]] | None
    warnings: list[str] = field(default_factory=list)

    @property
    def task(self) -> str:
        return str(self.results["task"])

    @property
    def run_id(self) -> str:
        return str(self.results.get("run_id") or self.path.name)

    @property
    def is_mc(self) -> bool:
        return self.task in MC_TASKS

    @property
    def created(self) -> datetime:
        """When the run was written: ``created`` in results.json, else the file's modification time."""
        text = self.results.get("created")
        if isinstance(text, str):
            try:
                stamp = datetime.fromisoformat(text)
                return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
            except ValueError:
                pass
        return datetime.fromtimestamp((self.path / "results.json").stat().st_mtime, tz=UTC)


@dataclass(frozen=True)
class SkippedRun:
    """A path the report could not use, and why (shown in every output)."""

    path: Path
    reason: str


@dataclass
class LoadedRuns:
    runs: list[Run]
    skipped: list[SkippedRun]


class _Unreadable(Exception):
    """Internal: the run at hand cannot be used; the message is the reason shown to the user."""


def _read_results(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"{file}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"{file}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    except OSError as exc:
        raise _Unreadable(f"{file}: cannot read ({exc.strerror})") from exc
    if not isinstance(data, dict):
        raise _Unreadable(f"{file}: expected a JSON object, found {type(data).__name__}")
    version = data.get("schema_version")
    if version is None:
        raise _Unreadable(f"{file}: no schema_version (not a cvalues results.json?)")
    if isinstance(version, bool) or version not in KNOWN_SCHEMA_VERSIONS:
        known = ", ".join(str(v) for v in sorted(KNOWN_SCHEMA_VERSIONS))
        raise _Unreadable(
            f"{file}: schema_version {version!r} is not one this cvalues reads (reads: {known}); "
            "a newer cvalues wrote it"
        )
    task = data.get("task")
    if task not in KNOWN_TASKS:
        raise _Unreadable(f"{file}: unknown task {task!r} (reads: {', '.join(sorted(KNOWN_TASKS))})")
    metrics = data.get("metrics")
    if not isinstance(metrics, dict):
        raise _Unreadable(f"{file}: no metrics object")
    if task in MC_TASKS:
        missing = [key for key in _MC_REQUIRED if key not in metrics]
        if missing:
            raise _Unreadable(f"{file}: MC metrics lack {', '.join(missing)}")
    return data


def _read_samples(file: Path) -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = []
    try:
        with file.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise _Unreadable(f"{file}:{number}: expected a JSON object per line")
                samples.append(row)
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"{file}: not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise _Unreadable(f"{file}:{number}: invalid JSON ({exc.msg})") from exc
    return samples


def load_run(run_dir: Path) -> Run:
    """Read one run directory. Raises ``ValueError`` with the reason when it cannot be used."""
    try:
        results = _read_results(run_dir / "results.json")
    except _Unreadable as exc:
        raise ValueError(str(exc)) from exc
    run = Run(path=run_dir, results=results, samples=None)
    samples_file = run_dir / "samples.jsonl"
    if not samples_file.is_file():
        run.warnings.append(f"{samples_file}: missing; no verification, examples or paired comparison")
        return run
    try:
        run.samples = _read_samples(samples_file)
    except _Unreadable as exc:
        run.warnings.append(f"{exc}; samples not used")
    return run


def _run_dirs(path: Path) -> list[Path]:
    """A run directory, a results.json, or a folder of run directories (searched recursively)."""
    if path.is_file() and path.name == "results.json":
        return [path.parent]
    if (path / "results.json").is_file():
        return [path]
    if path.is_dir():
        return sorted(file.parent for file in path.rglob("results.json"))
    return []


def load_runs(paths: Iterable[Path]) -> LoadedRuns:
    """Every run found under ``paths``, each once; the unreadable ones listed with their reason."""
    loaded = LoadedRuns(runs=[], skipped=[])
    seen: set[Path] = set()
    for path in paths:
        found = _run_dirs(path)
        if not found:
            reason = "no results.json in it" if path.exists() else "does not exist"
            loaded.skipped.append(SkippedRun(path=path, reason=f"{path}: {reason}"))
        for run_dir in found:
            if run_dir.resolve() in seen:
                continue
            seen.add(run_dir.resolve())
            try:
                loaded.runs.append(load_run(run_dir))
            except ValueError as exc:
                loaded.skipped.append(SkippedRun(path=run_dir, reason=str(exc)))
    return loaded


def mc_scored_samples(samples: list[dict[str, Any]]) -> list[ScoredSample]:
    """The metric inputs from sample lines, as anyone can rebuild them (errored items left out)."""
    return [
        ScoredSample(
            id=str(r["id"]),
            label=r["label"],
            pred=r["pred"],
            domain=r.get("domain"),
            difficulty=r.get("difficulty"),
            scenario=r.get("scenario"),
            pair_id=r.get("pair_id"),
            question_key=r.get("question_key") or "",
            n_options=r.get("n_options") or 0,  # lettered items: pred and label are letters
        )
        for r in samples
        if r.get("pred") is not None
    ]


def _differences(written: Any, recomputed: Any, where: str) -> list[str]:
    if isinstance(written, dict) and isinstance(recomputed, dict):
        out: list[str] = []
        for key in sorted(set(written) | set(recomputed), key=str):
            if key == "ci_method":
                continue
            out += _differences(written.get(key), recomputed.get(key), f"{where}.{key}")
        return out
    if isinstance(written, (int, float)) and isinstance(recomputed, (int, float)):
        same = math.isclose(float(written), float(recomputed), rel_tol=1e-9, abs_tol=1e-12)
        return [] if same else [f"{where}: written {written!r}, recomputed {recomputed!r}"]
    if isinstance(written, list) and isinstance(recomputed, list) and len(written) == len(recomputed):
        return [
            d
            for i, (a, b) in enumerate(zip(written, recomputed, strict=True))
            for d in _differences(a, b, f"{where}[{i}]")
        ]
    return [] if written == recomputed else [f"{where}: written {written!r}, recomputed {recomputed!r}"]


@dataclass(frozen=True)
class Verification:
    """``ok`` None: nothing to check (not an MC run, or no samples)."""

    ok: bool | None
    detail: str
    mismatches: tuple[str, ...] = ()


def verify_run(run: Run, *, n_boot: int = 1000, seed: int = 0) -> Verification:
    """Recompute an MC run's metrics from samples.jsonl and compare them with results.json.

    Uses ``compute_mc_metrics`` with the defaults every cvalues run is written with, so the
    bootstrap intervals recompute exactly too.
    """
    if not run.is_mc:
        return Verification(None, "not an MC run: its metrics are not recomputed here")
    if run.samples is None:
        return Verification(None, "no samples.jsonl to recompute from")
    try:
        recomputed = compute_mc_metrics(mc_scored_samples(run.samples), n_boot=n_boot, seed=seed)
    except (KeyError, ValueError, TypeError) as exc:
        return Verification(False, f"samples.jsonl cannot be rescored: {exc}")
    mismatches = [
        d
        for key in _VERIFIED_KEYS
        if key in run.results or recomputed.get(key)
        for d in _differences(run.results.get(key), recomputed.get(key), key)
    ]
    if mismatches:
        return Verification(False, f"{len(mismatches)} value(s) differ from samples.jsonl", tuple(mismatches))
    return Verification(True, f"all metrics recompute from samples.jsonl ({len(run.samples)} lines)")
