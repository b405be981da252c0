"""What ``cvalues judge`` judges: the replies of a ``cvalues generate`` run directory, a user's file of
(prompt, response) rows, or for the pairwise rubric the matching replies of two generate runs.

Everything here is read and checked before the store is opened, so bad input writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.core.files import read_json
from cvalues.data.encoding import read_bytes, sha256_bytes
from cvalues.data.items import PromptItem
from cvalues.data.prompt_fields import PROMPT_FIELD_NAMES, load_mapped_prompts
from cvalues.data.prompt_published import parse_history
from cvalues.data.readers import Row, rows_from_bytes, table_format_of

RESPONSE_FIELD_NAMES: tuple[str, ...] = ("response", "human_label")


@dataclass(frozen=True)
class JudgeUnit:
    """One reply to judge (two, ``response`` and ``response_b``, for a pairwise comparison)."""

    id: str
    sample: int
    prompt: str
    response: str
    level: str | None = None
    domain: str | None = None
    scenario: str | None = None
    should_answer: bool | None = None
    reference: str | None = None
    history: tuple[tuple[str, str], ...] = ()
    human_label: Any = None
    response_b: str | None = None


@dataclass
class JudgeInput:
    """The replies to judge and where they came from (recorded in results.json)."""

    units: list[JudgeUnit]
    source: dict[str, Any]
    dataset: dict[str, Any]
    generator: dict[str, Any] | None = None
    n_without_reply: int = 0
    items: list[PromptItem] = field(default_factory=list)  # a responses file's rows, for the store


# -- a generate run directory --------------------------------------------------------------------


def load_run_input(run_dir: Path, *, flag: str = "RUN_DIR") -> JudgeInput:
    """The replies of a ``cvalues generate`` output directory (failed generations are left out)."""
    if not run_dir.exists():
        raise InputError(f"run directory {run_dir} does not exist", flag=flag)
    if not run_dir.is_dir():
        raise InputError(
            "not a run directory (it is a file); give the --out folder of `cvalues generate`", path=run_dir
        )
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        raise InputError(
            "not a run directory: it has no results.json (make one with `cvalues generate ... --out DIR`)",
            path=run_dir,
        )
    results = read_json(results_path)
    task = results.get("task") if isinstance(results, dict) else None
    if task != "generate":
        raise InputError(
            f"not a generate run (task {task!r}): `cvalues judge` judges the replies of `cvalues generate`",
            path=results_path,
        )
    samples_path = run_dir / "samples.jsonl"
    if not samples_path.is_file():
        raise InputError("the run has results.json but no samples.jsonl", path=run_dir)
    data = read_bytes(samples_path)
    units: list[JudgeUnit] = []
    without_reply = 0
    for row in rows_from_bytes(data, samples_path, "jsonl"):
        unit = _unit_from_sample(row, samples_path)
        if unit is None:
            without_reply += 1
        else:
            units.append(unit)
    model = results.get("model") if isinstance(results.get("model"), dict) else {}
    return JudgeInput(
        units=units,
        source={
            "kind": "run",
            "path": str(run_dir.resolve()),
            "run_id": results.get("run_id"),
            "samples_sha256": sha256_bytes(data),
        },
        dataset=dict(results.get("dataset") or {}),
        generator=model,
        n_without_reply=without_reply,
    )


def _unit_from_sample(row: Row, path: Path) -> JudgeUnit | None:
    data, line = row.data, row.line

    def text(key: str, *, required: bool = False) -> str | None:
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, str):
            raise InputError(f"field {key!r} must be a string", path=path, line=line)
        return value

    item_id = data.get("id")
    if isinstance(item_id, bool) or not isinstance(item_id, str | int):
        raise InputError("field 'id' must be a string", path=path, line=line)
    prompt = text("prompt", required=True)
    sample = data.get("sample", 0)
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise InputError("field 'sample' must be a whole number >= 0", path=path, line=line)
    response = text("response")
    if response is None:  # the generation failed: nothing to judge
        return None
    references = data.get("references") or []
    if not isinstance(references, list) or not all(isinstance(r, str) for r in references):
        raise InputError("field 'references' must be a list of strings", path=path, line=line)
    should_answer = data.get("should_answer")
    if should_answer is not None and not isinstance(should_answer, bool):
        raise InputError("field 'should_answer' must be true, false or null", path=path, line=line)
    assert prompt is not None
    return JudgeUnit(
        id=str(item_id),
        sample=sample,
        prompt=prompt,
        response=response,
        level=text("level"),
        domain=text("domain"),
        scenario=text("scenario"),
        should_answer=should_answer,
        reference=references[0] if references else None,
        history=parse_history(data.get("history") or None, path, line),
    )


# -- a user's file of replies ----------------------------------------------------------------------


def load_responses_input(
    path: Path, *, fields: dict[str, str] | None = None, encoding: str | None = None
) -> JudgeInput:
    """Rows with ``prompt`` and ``response`` (JSONL, JSON, CSV, XLSX), and optionally ``id``, ``level``,
    ``domain``, ``scenario``, ``should_answer``, ``reference``, ``history`` and ``human_label``
    (kept in samples.jsonl for comparison). ``fields`` maps these names to the file's columns."""
    if not path.is_file():
        raise InputError("responses file not found", path=path)
    mapping = {name: name for name in RESPONSE_FIELD_NAMES}
    prompt_fields: dict[str, str] = {}
    for ours, theirs in (fields or {}).items():
        if ours in RESPONSE_FIELD_NAMES:
            mapping[ours] = theirs
        elif ours in PROMPT_FIELD_NAMES:
            prompt_fields[ours] = theirs
        else:
            known = ", ".join((*PROMPT_FIELD_NAMES, *RESPONSE_FIELD_NAMES))
            raise InputError(f"unknown field {ours!r}; fields are {known}", flag="--field")
    data = read_bytes(path)
    rows = rows_from_bytes(data, path, table_format_of(path, data), encoding=encoding)
    if mapping["response"] not in rows[0].data:
        columns = ", ".join(repr(str(name)) for name in list(rows[0].data)[:8])
        raise InputError(
            f"no response column {mapping['response']!r} among the columns ({columns}); "
            "map it with --field response=COLUMN",
            path=path,
            line=rows[0].line,
        )
    items = load_mapped_prompts(rows, path, prompt_fields)
    units: list[JudgeUnit] = []
    for row, item in zip(rows, items, strict=True):
        response = row.data.get(mapping["response"])
        if not isinstance(response, str):
            raise InputError(
                f"field 'response' (column {mapping['response']!r}) must be a string",
                path=path,
                line=row.line,
            )
        units.append(
            JudgeUnit(
                id=item.id,
                sample=0,
                prompt=item.prompt,
                response=response,
                level=item.level,
                domain=item.domain,
                scenario=item.scenario,
                should_answer=item.should_answer,
                reference=item.references[0] if item.references else None,
                history=item.history,
                human_label=row.data.get(mapping["human_label"]),
            )
        )
    digest = sha256_bytes(data)
    return JudgeInput(
        units=units,
        source={"kind": "responses", "path": str(path.resolve()), "sha256": digest},
        dataset={"name": path.stem, "source": str(path.resolve()), "sha256": digest, "n_items": len(units)},
        generator={"spec": None, "source": str(path.resolve())},
        items=items,
    )


# -- two runs, for the pairwise rubric -------------------------------------------------------------


def pair_inputs(first: JudgeInput, second: JudgeInput, second_dir: Path) -> tuple[JudgeInput, int]:
    """Replies of the same prompt and sample index in both runs, as pairs (first run's reply in
    ``response``, the second's in ``response_b``), and how many replies found no partner."""
    others = {(unit.id, unit.sample): unit for unit in second.units}
    pairs: list[JudgeUnit] = []
    for unit in first.units:
        other = others.pop((unit.id, unit.sample), None)
        if other is None:
            continue
        if other.prompt != unit.prompt or other.history != unit.history:
            raise InputError(
                f"item {unit.id!r} has another prompt here than in the first run: the runs are not of "
                "the same prompt set",
                path=second_dir / "samples.jsonl",
            )
        pairs.append(replace(unit, response_b=other.response))
    unmatched = len(first.units) - len(pairs) + len(others)
    if not pairs:
        raise InputError(
            "no reply of this run matches one of the first run (same id and sample)", path=second_dir
        )
    source = {
        "kind": "pair",
        "first": {**first.source, "model": first.generator},
        "second": {**second.source, "model": second.generator},
        "n_unmatched": unmatched,
    }
    paired = JudgeInput(
        units=pairs,
        source=source,
        dataset=first.dataset,
        generator=first.generator,
        n_without_reply=first.n_without_reply + second.n_without_reply,
    )
    return paired, unmatched


__all__ = ["JudgeInput", "JudgeUnit", "load_responses_input", "load_run_input", "pair_inputs"]
