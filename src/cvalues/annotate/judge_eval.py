"""``cvalues judge-eval``: an automatic judge's run against human annotations of the same replies.

Human file: an annotation export (JSONL, or CSV/XLSX/JSON), one annotation per row:

- ``item_id`` (or ``item_key``, ``id``): the reply; it must equal the ``id`` of the judge's rows;
- ``annotator``; ``kind``: ``safety`` or ``responsibility`` (inferred from the label when absent;
  rows of other kinds, e.g. ``pairwise``, are skipped and counted);
- the label, flat (``label``/``verdict``: safe|unsafe|安全|不安全, ``score``: 1-10, ``harm_scenario``)
  or as ``cvalues annotate export`` writes it (``label: {"verdict": ..., "scenario": ...}`` or
  ``label: {"score": n}``, as JSON text in CSV and XLSX cells); a row with no label yet (an open
  assignment, or an item nobody has labelled) is skipped and counted;
- optional ``model`` (with ``--model``, only that model's rows are used), ``domain``, ``scenario``
  (the prompt's).

Judge run: a ``cvalues judge`` output directory whose ``samples.jsonl`` has per row ``id``, optional
``sample`` (the index among k samples of one item), ``parsed``, and ``label`` (safety) or ``score``.
Several samples of an item are combined as the judge combines them: the majority label (a tie is
unparsed) or the mean score, over the parsed samples.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cvalues.annotate.accounts import Accounts
from cvalues.annotate.exchange import export_task
from cvalues.annotate.task_store import TaskStore
from cvalues.core.errors import InputError
from cvalues.core.files import read_json, write_json
from cvalues.core.results import RESULTS_SCHEMA_VERSION  # one version for every results.json
from cvalues.core.version import __version__
from cvalues.data.readers import read_rows
from cvalues.scoring.human_metrics import RESPONSIBILITY, SAFETY, SCORE_MAX, SCORE_MIN, Annotation
from cvalues.scoring.judge_parsers import CONTROVERSIAL, SAFE, UNSAFE
from cvalues.scoring.judge_validation import validate_safety_judge, validate_score_judge
from cvalues.store import open_store
from cvalues.store.engine import resolve_db_url

CONTROVERSIAL_POLICIES: tuple[str, ...] = ("exclude", "unsafe", "safe")
_LABEL_WORDS = {"safe": SAFE, "unsafe": UNSAFE, "安全": SAFE, "不安全": UNSAFE}
_ITEM_KEYS = ("item_id", "item_key", "id")
_OTHER_KINDS = ("pairwise", "mc-review")  # annotation kinds judge-eval has nothing to compare with


@dataclass(frozen=True)
class HumanFile:
    annotations: list[Annotation]
    n_rows: int
    n_skipped: int
    sha256: str


@dataclass(frozen=True)
class JudgeRun:
    verdicts: dict[str, Any]  # item id -> label or score; None when unparsed
    n_rows: int
    n_controversial: int
    meta: dict[str, Any]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _score(value: Any, path: Path, line: int) -> float:
    if isinstance(value, bool):
        raise InputError(f"score must be a number from 1 to 10, got {value!r}", path=path, line=line)
    try:
        score = float(str(value).strip())
    except ValueError:
        raise InputError(
            f"score must be a number from 1 to 10, got {value!r}", path=path, line=line
        ) from None
    if not SCORE_MIN <= score <= SCORE_MAX:
        raise InputError(f"score must be from 1 to 10, got {value!r}", path=path, line=line)
    return score


def _nested_label(value: Any, path: Path, line: int) -> dict[str, Any]:
    """The web app's label object, given as an object (JSONL) or as JSON text (CSV and XLSX cells)."""
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise InputError(f"'label' is not valid JSON ({exc.msg})", path=path, line=line) from exc
    return value if isinstance(value, dict) else {}


def _annotation(row: dict[str, Any], path: Path, line: int) -> Annotation | None:
    """One row as an Annotation; None for rows of other kinds and rows not labelled yet."""
    item_id = next((_text(row[key]) for key in _ITEM_KEYS if _text(row.get(key))), None)
    if item_id is None:
        raise InputError("missing the item id (item_id, item_key or id)", path=path, line=line)
    nested = _nested_label(row.get("label"), path, line)
    verdict = _text(nested.get("verdict") or (None if nested else row.get("label")) or row.get("verdict"))
    score = nested.get("score", row.get("score"))
    score = None if _text(score) is None else score
    annotator = _text(row.get("annotator"))
    if annotator is None:
        if verdict is None and score is None:  # the export's row for an item nobody labelled yet
            return None
        raise InputError("missing 'annotator'", path=path, line=line)
    kind = _text(row.get("kind")) or (SAFETY if verdict else RESPONSIBILITY if score is not None else None)
    if kind is None or kind in _OTHER_KINDS:  # None: no kind and no label, an open assignment
        return None
    if kind not in (SAFETY, RESPONSIBILITY):
        raise InputError(f"kind must be safety or responsibility, got {kind!r}", path=path, line=line)
    common: dict[str, Any] = {
        "item_id": item_id,
        "annotator": annotator,
        "kind": kind,
        "model": _text(row.get("model")) or "",
        "domain": _text(row.get("domain")),
        "scenario": _text(row.get("scenario")),
    }
    if kind == SAFETY:
        if verdict is None:
            return None
        label = _LABEL_WORDS.get(verdict.lower())
        if label is None:
            raise InputError(f"safety label must be safe or unsafe, got {verdict!r}", path=path, line=line)
        harm = _text(nested.get("scenario")) or _text(row.get("harm_scenario"))
        return Annotation(label=label, harm_scenario=harm, **common)
    if score is None:
        return None
    return Annotation(score=_score(score, path, line), **common)


def read_human_annotations(path: Path, *, model: str | None = None) -> HumanFile:
    """The safety and responsibility annotations of an export file (see the module docstring)."""
    if not path.is_file():
        raise InputError("file not found", path=path)
    rows = read_rows(path)
    annotations: list[Annotation] = []
    seen: dict[tuple[str, str, str, str], int] = {}
    skipped = 0
    for row in rows:
        annotation = _annotation(row.data, path, row.line)
        if annotation is None or (model is not None and annotation.model != model):
            skipped += 1
            continue
        key = (annotation.model, annotation.kind, annotation.item_id, annotation.annotator)
        if key in seen:
            raise InputError(
                f"annotator {annotation.annotator!r} already annotated item {annotation.item_id!r} "
                f"on line {seen[key]}",
                path=path,
                line=row.line,
            )
        seen[key] = row.line
        annotations.append(annotation)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return HumanFile(annotations, len(rows), skipped, sha256)


def human_labels_in_judge_run(judge_dir: Path) -> HumanFile:
    """The ``human_label`` of each item in a judge run's samples.jsonl (``cvalues judge --responses``
    keeps that column), as the annotations of one annotator named ``human_label``.

    A label is a safety verdict (safe / unsafe, 安全 / 不安全) or a 1–10 score; items without one are
    skipped. The samples of one item carry the same label, so each item counts once.
    """
    samples = judge_dir / "samples.jsonl"
    if not samples.is_file():
        raise InputError("not a judge run directory: no samples.jsonl", path=judge_dir)
    rows = read_rows(samples, fmt="jsonl")
    annotations: list[Annotation] = []
    seen: set[str] = set()
    for row in rows:
        item_id = _text(row.data.get("id"))
        value = row.data.get("human_label")
        if item_id is None or item_id in seen or _text(value) is None:
            continue
        seen.add(item_id)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        fields = {
            "item_id": item_id,
            "annotator": "human_label",
            "score" if numeric else "label": value,
            "domain": row.data.get("domain"),
            "scenario": row.data.get("scenario"),
        }
        annotation = _annotation(fields, samples, row.line)
        if annotation is not None:
            annotations.append(annotation)
    if not annotations:
        raise InputError(
            "no human_label in the judge's samples: judge a file with a human_label column "
            "(cvalues judge --responses), or give --human",
            path=samples,
        )
    sha256 = hashlib.sha256(samples.read_bytes()).hexdigest()
    return HumanFile(annotations, len(rows), len(rows) - len(annotations), sha256)


def _combine(values: list[Any], kind: str) -> Any:
    """The judge's k samples of one item as one verdict (None: unparsed or tied)."""
    votes = [value for value in values if value is not None]
    if not votes:
        return None
    if kind == RESPONSIBILITY:
        return sum(votes) / len(votes)
    ranked = Counter(votes).most_common()
    return None if len(ranked) > 1 and ranked[0][1] == ranked[1][1] else ranked[0][0]


def _judge_value(row: dict[str, Any], kind: str, path: Path, line: int) -> Any:
    parsed = row.get("parsed")
    if parsed is not None and not isinstance(parsed, bool):
        raise InputError(f"'parsed' must be true or false, got {parsed!r}", path=path, line=line)
    field = "label" if kind == SAFETY else "score"
    value = row.get(field)
    if parsed is False or (parsed is None and value is None):
        return None
    if value is None:
        raise InputError(f"a parsed row needs '{field}'", path=path, line=line)
    if kind == RESPONSIBILITY:
        return _score(value, path, line)
    label = _LABEL_WORDS.get(str(value).strip().lower(), str(value).strip().lower())
    if label not in (SAFE, UNSAFE, CONTROVERSIAL):
        raise InputError(
            f"judge label must be safe, unsafe or controversial, got {value!r}", path=path, line=line
        )
    return label


def read_judge_run(run_dir: Path, kind: str, *, controversial: str = "exclude") -> JudgeRun:
    """The judge's verdict per item id from ``run_dir/samples.jsonl`` (and its results.json, if any).

    ``controversial`` says what a guard model's "controversial" label becomes: excluded like an
    unparsed verdict (default), or read as unsafe or safe.
    """
    if controversial not in CONTROVERSIAL_POLICIES:
        raise InputError(f"must be one of {', '.join(CONTROVERSIAL_POLICIES)}", flag="--controversial")
    samples = run_dir / "samples.jsonl"
    if not samples.is_file():
        raise InputError("not a judge run directory: no samples.jsonl", path=run_dir)
    rows = read_rows(samples, fmt="jsonl")
    values: dict[str, list[Any]] = {}
    seen: dict[tuple[str, str], int] = {}
    n_controversial = 0
    for row in rows:
        item_id = _text(row.data.get("id"))
        if item_id is None:
            raise InputError("missing 'id'", path=samples, line=row.line)
        key = (item_id, str(row.data.get("sample", 0)))
        if key in seen:
            raise InputError(
                f"item {item_id!r} sample {key[1]} already on line {seen[key]}", path=samples, line=row.line
            )
        seen[key] = row.line
        value = _judge_value(row.data, kind, samples, row.line)
        if value == CONTROVERSIAL:
            n_controversial += 1
            value = None if controversial == "exclude" else controversial
        values.setdefault(item_id, []).append(value)
    meta: dict[str, Any] = {"run_dir": str(run_dir)}
    if (run_dir / "results.json").is_file():
        results = read_json(run_dir / "results.json")
        if isinstance(results, dict):
            meta.update(
                {
                    key: results[key]
                    for key in ("run_id", "task", "model", "judge", "rubric")
                    if key in results
                }
            )
    verdicts = {item_id: _combine(item_values, kind) for item_id, item_values in values.items()}
    return JudgeRun(verdicts, len(rows), n_controversial, meta)


def _pick_kind(annotations: list[Annotation], kind: str | None, path: Path) -> str:
    kinds = sorted({a.kind for a in annotations})
    if kind is not None:
        if kind not in (SAFETY, RESPONSIBILITY):
            raise InputError("must be safety or responsibility", flag="--kind")
        if kind not in kinds:
            raise InputError(f"the file has no {kind} annotations", path=path)
        return kind
    if not kinds:
        raise InputError("no safety or responsibility annotations", path=path)
    if len(kinds) > 1:
        raise InputError(
            "the file has safety and responsibility annotations: choose one with --kind", path=path
        )
    return kinds[0]


def export_task_annotations(task_id: str, db: str | None, dest: Path) -> Path:
    """Write annotation task ``task_id`` of the store at ``db`` as a JSONL export in folder ``dest``.

    ``judge-eval --human`` takes a task id as well as an export file; reading the task through its
    export keeps one reader of human labels. A SQLite store that does not exist is an error here
    (opening it would create an empty one).
    """
    url, _ = resolve_db_url(db)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        parsed = None  # open_store below reports a bad URL, naming --db or CVALUES_DB
    sqlite_file = parsed.database if parsed is not None and parsed.get_backend_name() == "sqlite" else None
    if sqlite_file and not Path(sqlite_file).is_file():
        raise InputError(
            f"{task_id!r} is neither an annotation export file nor a task: no store at {sqlite_file}",
            flag="--human",
        )
    store = open_store(db)
    try:
        tasks = TaskStore(store.engine)
        if tasks.get_task(task_id) is None:
            raise InputError(
                f"{task_id!r} is neither an annotation export file nor a task in the store {url} "
                "(see `cvalues annotate tasks`)",
                flag="--human",
            )
        out = dest / f"{task_id}.jsonl"
        export_task(tasks, Accounts(store.engine), task_id, "jsonl", out)
    finally:
        store.close()
    return out


def run_judge_eval(
    human_path: Path,
    judge_dir: Path,
    *,
    source_name: str | None = None,
    human_file: HumanFile | None = None,
    kind: str | None = None,
    model: str | None = None,
    controversial: str = "exclude",
    n_boot: int = 1000,
    seed: int = 0,
    out_dir: Path | None = None,
) -> dict[str, Any]:
    """Validate the judge run in ``judge_dir`` against the annotations in ``human_path``.

    Returns the results document (written to ``out_dir/results.json`` when ``out_dir`` is given).
    Raises ``InputError`` for unreadable input and when no item is in both.
    """
    human = human_file or read_human_annotations(human_path, model=model)
    chosen = _pick_kind(human.annotations, kind, human_path)
    judge = read_judge_run(judge_dir, chosen, controversial=controversial)
    table: dict[str, dict[str, Any]] = {}
    for a in human.annotations:
        if a.kind == chosen:
            table.setdefault(a.item_id, {})[a.annotator] = a.label if chosen == SAFETY else a.score
    if not table.keys() & judge.verdicts.keys():
        raise InputError(
            f"no item id of {human_path} is among the judge's ids in {judge_dir / 'samples.jsonl'}"
        )
    if chosen == SAFETY:
        validation = validate_safety_judge(table, judge.verdicts, n_boot=n_boot, seed=seed)
    else:
        validation = validate_score_judge(table, judge.verdicts, n_boot=n_boot, seed=seed)
    validation["counts"]["n_judge_controversial_samples"] = judge.n_controversial
    created = datetime.now(UTC)
    judge_model = judge.meta.get("model")
    results = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "cvalues_version": __version__,
        "run_id": f"judge-eval-{created:%Y%m%d-%H%M%S}-{human.sha256[:6]}",
        "task": "judge-eval",
        "created": created.isoformat(timespec="seconds"),
        "model": judge_model if isinstance(judge_model, dict) else {"spec": judge_model},
        "judge": judge.meta,
        "dataset": {
            "name": source_name or human_path.name,
            "source": source_name or str(human_path),
            "sha256": human.sha256,
            "n_items": len(table),
        },
        "human": {
            "n_rows": human.n_rows,
            "n_rows_skipped": human.n_skipped,
            "n_annotations": sum(len(ratings) for ratings in table.values()),
            "n_annotators": len({name for ratings in table.values() for name in ratings}),
            "model_filter": model,
        },
        "settings": {"controversial": controversial, "n_boot": n_boot, "seed": seed},
        **validation,
    }
    if out_dir is not None:
        write_json(out_dir / "results.json", results)
    return results
