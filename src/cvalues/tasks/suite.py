"""Suites: a named list of tasks that ``cvalues eval`` runs as one evaluation.

A suite is data, a TOML file (as lm-evaluation-harness's task YAML): each ``[[tasks]]`` table
names its kind (``mc``, ``generate``, ``judge``), its dataset or input task, and settings. Errors
name the file and line. Built-in suites live in ``tasks/suites/``; another package adds one
through the ``cvalues.suites`` entry point (a path to a TOML file, or a ``Suite``).

Top-level keys: ``name``, ``description``, and how the suite's requests travel (the flags of
``cvalues eval`` win over them): ``executor`` (``local`` or ``ray``), ``ray_address`` (a cluster
to join; default a local one), ``ray_workers`` (Ray actors per model, default 2). They are not
part of any run's identity: a suite run on a cluster resumes locally and the other way round.

Keys of a task:
- all: ``name`` (unique, used as the run directory's name), ``kind``, ``row`` (which column of the
  paper's row the task fills: l1_mc, l2_mc, refusal, over_refusal, safety, responsibility),
  ``max_tokens``, ``limit``.
- mc: ``dataset``, ``level`` (keep only the items of one level), ``mode`` (generate, logprob;
  logprob runs only where the backend can score choices), ``template``; with a pair dataset
  (``cvalues-comparison``) the items are built from its pairs in both orders: ``split`` and
  ``pair_type`` choose which pairs, ``limit`` how many items.
- generate: ``dataset``, ``level``, ``samples``; a pair dataset gives its distinct prompts.
- judge: ``input`` (the name of a generate task of the suite), ``rubric``; runs only when a judge
  model is given.
- pairs: ``dataset`` (a pair file or ``cvalues-comparison``), ``split``, ``pair_type``, ``scorer``
  (``logprob``: the model's own log-probability of each reply, on local models; ``judge``: the judge
  model with a pairwise ``rubric``, default ``pairwise``, both orders).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cvalues.core.errors import InputError
from cvalues.core.registry import SUITES
from cvalues.data.pairs import PAIR_TYPES
from cvalues.models.registry import EXECUTORS

KINDS = ("mc", "generate", "judge", "pairs")
ROWS = ("l1_mc", "l2_mc", "refusal", "over_refusal", "safety", "responsibility")
LEVELS = ("safety", "responsibility")
_KEYS: dict[str, frozenset[str]] = {
    "mc": frozenset({"dataset", "level", "mode", "template", "split", "pair_type"}),
    "generate": frozenset({"dataset", "level", "samples", "split"}),
    "judge": frozenset({"input", "rubric"}),
    "pairs": frozenset({"dataset", "split", "pair_type", "scorer", "rubric"}),
}
_COMMON = frozenset({"name", "kind", "row", "max_tokens", "limit"})
_TOP_KEYS = ("name", "description", "executor", "ray_address", "ray_workers", "tasks")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class SuiteTask:
    name: str
    kind: str
    row: str | None = None
    dataset: str | None = None
    level: str | None = None
    mode: str = "generate"
    template: str | None = None
    samples: int = 1
    split: str = "test"  # a pair dataset (cvalues-comparison): which split
    pair_type: str | None = None  # a pair dataset: only this pair type
    input: str | None = None
    rubric: str | None = None
    scorer: str = "logprob"  # pairs: logprob (the model's own log-probabilities) or judge (the judge model)
    max_tokens: int | None = None
    limit: int | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    tasks: tuple[SuiteTask, ...]
    source: str = ""
    judged: tuple[str, ...] = field(default=())
    # How the requests travel when ``cvalues eval`` gives no flag for it (None: the flag's default).
    executor: str | None = None
    ray_address: str | None = None
    ray_workers: int | None = None

    def task(self, name: str) -> SuiteTask:
        return next(t for t in self.tasks if t.name == name)


def builtin_suite_path(name: str) -> Path:
    return Path(str(resources.files("cvalues.tasks").joinpath("suites", f"{name}.toml")))


for _name in ("sample", "cvalues"):
    SUITES.register(_name, builtin_suite_path(_name))


def load_suite(ref: str | Path) -> Suite:
    """A registered suite name, or the path of a suite TOML file."""
    path = Path(ref)
    if isinstance(ref, str) and not path.suffix and ref in SUITES:
        found = SUITES.get(ref, flag="--suite")
        if isinstance(found, Suite):
            return found
        path = Path(found)
    elif not path.exists():
        raise InputError(
            f"{ref!s} is neither a suite name ({', '.join(SUITES.names())}) nor an existing file",
            flag="--suite",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("is not UTF-8 text: a suite file is TOML", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the suite ({exc.strerror})", path=path) from exc
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        raise InputError(
            f"invalid TOML: {message}", path=path, line=int(match.group(1)) if match else None
        ) from exc
    return _SuiteReader(table, text, path).read()


class _SuiteReader:
    def __init__(self, table: dict[str, Any], text: str, path: Path) -> None:
        self.table, self.text, self.path = table, text, path
        # The line where each [[tasks]] table starts, so an error inside one names its line.
        self.task_lines = [
            self.text.count("\n", 0, m.start()) + 1
            for m in re.finditer(r"^\s*\[\[tasks\]\]", text, re.MULTILINE)
        ]

    def fail(self, message: str, line: int | None = None) -> InputError:
        return InputError(message, path=self.path, line=line)

    def line_in_task(self, index: int, key: str) -> int | None:
        start = self.task_lines[index] if index < len(self.task_lines) else 1
        end = self.task_lines[index + 1] if index + 1 < len(self.task_lines) else None
        lines = self.text.splitlines()
        for number in range(start, (end or len(lines) + 1)):
            if re.match(rf"^\s*{re.escape(key)}\s*=", lines[number - 1]):
                return number
        return start

    def read(self) -> Suite:
        for key in self.table:
            if key not in _TOP_KEYS:
                raise self.fail(f"unknown key {key!r} (allowed: {', '.join(_TOP_KEYS)})", self._top_line(key))
        name = self.table.get("name")
        if not isinstance(name, str) or not name.strip():
            raise self.fail("missing key 'name' (the suite's name)", self._top_line("name") or 1)
        tasks_table = self.table.get("tasks")
        if not isinstance(tasks_table, list) or not tasks_table:
            raise self.fail("no [[tasks]]: a suite needs at least one task", 1)
        tasks = [self._task(index, entry) for index, entry in enumerate(tasks_table)]
        names = [t.name for t in tasks]
        for index, task in enumerate(tasks):
            if names.index(task.name) != index:
                raise self.fail(f"task name {task.name!r} is used twice", self.line_in_task(index, "name"))
            if task.kind == "judge":
                source = next((t for t in tasks if t.name == task.input), None)
                if source is None or source.kind != "generate":
                    raise self.fail(
                        f"input {task.input!r} is not a generate task of this suite",
                        self.line_in_task(index, "input"),
                    )
        return Suite(
            name=name,
            description=str(self.table.get("description", "")),
            tasks=tuple(tasks),
            source=str(self.path),
            **self._execution(),
        )

    def _execution(self) -> dict[str, Any]:
        """The top-level ``executor``, ``ray_address`` and ``ray_workers``, checked."""
        values: dict[str, Any] = {}
        executor = self.table.get("executor")
        if executor is not None:
            if executor not in EXECUTORS:
                raise self.fail(
                    f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}",
                    self._top_line("executor"),
                )
            values["executor"] = executor
        address = self.table.get("ray_address")
        if address is not None:
            if not isinstance(address, str) or not address.strip():
                raise self.fail("'ray_address' must be a non-empty string", self._top_line("ray_address"))
            values["ray_address"] = address
        workers = self.table.get("ray_workers")
        if workers is not None:
            if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
                raise self.fail(
                    "'ray_workers' must be a whole number of at least 1", self._top_line("ray_workers")
                )
            values["ray_workers"] = workers
        if ("ray_address" in values or "ray_workers" in values) and values.get("executor") != "ray":
            key = "ray_address" if "ray_address" in values else "ray_workers"
            raise self.fail(f'{key!r} needs executor = "ray"', self._top_line(key))
        return values

    def _top_line(self, key: str) -> int | None:
        # Only the lines before the first table: a task's own ``name = ...`` is not the suite's.
        first_table = re.search(r"^\s*\[", self.text, re.MULTILINE)
        top = self.text[: first_table.start()] if first_table else self.text
        match = re.search(rf"^\s*{re.escape(key)}\s*=", top, re.MULTILINE)
        return top.count("\n", 0, match.start()) + 1 if match else None

    def _task(self, index: int, entry: Any) -> SuiteTask:
        line = self.task_lines[index] if index < len(self.task_lines) else None
        if not isinstance(entry, dict):
            raise self.fail("each task is a [[tasks]] table", line)
        kind = entry.get("kind")
        if kind not in KINDS:
            raise self.fail(
                f"kind must be one of {', '.join(KINDS)}, got {kind!r}", self.line_in_task(index, "kind")
            )
        for key in entry:
            if key in _TOP_KEYS and key not in _COMMON:
                # TOML puts a key written after a [[tasks]] header into that task.
                raise self.fail(
                    f"{key!r} is a setting of the whole suite: put it at the top of the file, "
                    "before the first [[tasks]]",
                    self.line_in_task(index, key),
                )
            if key not in _COMMON | _KEYS[kind]:
                allowed = ", ".join(sorted(_COMMON | _KEYS[kind]))
                raise self.fail(
                    f"unknown key {key!r} for a {kind} task (allowed: {allowed})",
                    self.line_in_task(index, key),
                )
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise self.fail(
                f"name must be lower-case letters, digits, '-', '_' or '.', got {name!r}",
                self.line_in_task(index, "name"),
            )
        values: dict[str, Any] = {"name": name, "kind": kind}
        for key in (
            "dataset",
            "level",
            "mode",
            "template",
            "input",
            "rubric",
            "row",
            "split",
            "pair_type",
            "scorer",
        ):
            if key in entry:
                if not isinstance(entry[key], str) or not entry[key].strip():
                    raise self.fail(f"{key!r} must be a non-empty string", self.line_in_task(index, key))
                values[key] = entry[key]
        for key in ("max_tokens", "limit", "samples"):
            if key in entry:
                if isinstance(entry[key], bool) or not isinstance(entry[key], int) or entry[key] < 1:
                    raise self.fail(
                        f"{key!r} must be a whole number of at least 1", self.line_in_task(index, key)
                    )
                values[key] = entry[key]
        required = {
            "mc": ("dataset",),
            "generate": ("dataset",),
            "judge": ("input", "rubric"),
            "pairs": ("dataset",),
        }[kind]
        for key in required:
            if key not in values:
                raise self.fail(f"a {kind} task needs {key!r}", line)
        checks: tuple[tuple[str, tuple[str, ...]], ...] = (
            ("level", LEVELS),
            ("mode", ("generate", "logprob")),
            ("row", ROWS),
            ("pair_type", PAIR_TYPES),
            ("split", ("train", "test")),
            ("scorer", ("logprob", "judge")),
        )
        for checked, choices in checks:
            if checked in values and values[checked] not in choices:
                raise self.fail(
                    f"{checked} must be one of {', '.join(choices)}, got {values[checked]!r}",
                    self.line_in_task(index, checked),
                )
        return SuiteTask(**values)


__all__ = ["KINDS", "ROWS", "Suite", "SuiteTask", "builtin_suite_path", "load_suite"]
