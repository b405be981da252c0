"""The store's operations: short synchronous transactions over the tables in ``tables.py``.

Writes are upserts (``INSERT ... ON CONFLICT``), which SQLite and PostgreSQL both speak, so that
re-running a command, or two processes writing the same rows, never fails on a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from cvalues.core.requests import ModelRequest, ModelResponse
from cvalues.data.items import MCItem, PairItem, PromptItem
from cvalues.store.tables import RUN_STATUSES, Dataset, Item, Judgment, Response, Run, RunItem, utcnow

# Well below SQLite's historical limit of 999 bound variables per statement.
IN_CHUNK_SIZE = 500

StoredItem = MCItem | PromptItem | PairItem
_ITEM_KIND: dict[type, str] = {MCItem: "mc", PromptItem: "prompt", PairItem: "pair"}

T = TypeVar("T")


@dataclass
class RunRecord:
    id: str
    task: str
    model_spec: dict[str, Any]
    settings: dict[str, Any]
    dataset_id: int | None
    out_dir: str | None
    status: str
    created: datetime
    updated: datetime


@dataclass
class RunItemRow:
    item_key: str
    request_hash: str
    parsed: dict[str, Any]
    score: dict[str, Any] | None = None


@dataclass
class JudgmentRow:
    """One judgment of a reply (see ``tables.Judgment``). ``created`` is set by the store."""

    item_key: str
    sample_index: int
    variant: str
    response_hash: str
    judge_key: str
    rubric: str
    rubric_version: str
    request_hash: str
    raw: dict[str, Any]
    label: str | None
    score: float | None
    parsed: bool
    created: datetime | None = None


class Store:
    """The evaluation store. Open one with ``cvalues.store.open_store``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._response_upsert: Any = None

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- datasets and items ------------------------------------------------------------------

    def upsert_dataset(self, name: str, source: str, sha256: str, n_items: int) -> int:
        """Id of the dataset ``(name, sha256)``, created if new; ``source`` and ``n_items`` are updated."""
        table = _table(Dataset)
        insert = self._insert(table)
        statement = insert.values(name=name, source=source, sha256=sha256, n_items=n_items, created=utcnow())
        statement = statement.on_conflict_do_update(
            index_elements=["name", "sha256"], set_={"source": source, "n_items": n_items}
        )
        with self.engine.begin() as conn:
            conn.execute(statement)
            found = conn.execute(
                select(table.c.id).where(table.c.name == name, table.c.sha256 == sha256)
            ).scalar_one()
        return int(found)

    def save_items(self, dataset_id: int, items: Sequence[StoredItem]) -> None:
        """Store a dataset's items (MC, prompt or pair items); saving the same items again is a no-op."""
        by_key: dict[str, dict[str, Any]] = {}
        for item in items:
            kind = _ITEM_KIND.get(type(item))
            if kind is None:
                raise TypeError(
                    f"cannot store {type(item).__name__}: expected MCItem, PromptItem or PairItem"
                )
            by_key[item.id] = {
                "dataset_id": dataset_id,
                "item_key": item.id,
                "kind": kind,
                "payload": _item_payload(item),
                "domain": item.domain,
                "scenario": item.scenario,
                "pair_id": getattr(item, "pair_id", None),
            }
        if not by_key:
            return
        table = _table(Item)
        insert = self._insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=["dataset_id", "item_key"],
            set_={
                name: insert.excluded[name] for name in ("kind", "payload", "domain", "scenario", "pair_id")
            },
        )
        with self.engine.begin() as conn:
            conn.execute(statement, list(by_key.values()))

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        task: str,
        model_spec: dict[str, Any],
        settings: dict[str, Any],
        dataset_id: int | None,
        out_dir: str | Path | None,
    ) -> RunRecord:
        """Record a new run with status ``running``. A run id that exists already is a ``ValueError``."""
        now = utcnow()
        values = {
            "id": run_id,
            "task": task,
            "model_spec": model_spec,
            "settings": settings,
            "dataset_id": dataset_id,
            "out_dir": _normalise_out_dir(out_dir),
            "status": "running",
            "created": now,
            "updated": now,
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(_table(Run).insert().values(**values))
        except IntegrityError as exc:
            if self.get_run(run_id) is not None:
                raise ValueError(f"run {run_id!r} already exists") from exc
            raise
        return RunRecord(**values)  # type: ignore[arg-type]

    def get_run(self, run_id: str) -> RunRecord | None:
        table = _table(Run)
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.id == run_id)).mappings().first()
        return RunRecord(**row) if row is not None else None

    def find_run_by_out_dir(self, out_dir: str | Path) -> RunRecord | None:
        """The latest run that wrote to ``out_dir`` (compared as an absolute path)."""
        table = _table(Run)
        query = (
            select(table)
            .where(table.c.out_dir == _normalise_out_dir(out_dir))
            .order_by(table.c.created.desc(), table.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return RunRecord(**row) if row is not None else None

    def set_run_status(self, run_id: str, status: str) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"run status {status!r} is not one of {', '.join(RUN_STATUSES)}")
        table = _table(Run)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table).where(table.c.id == run_id).values(status=status, updated=utcnow())
            )
        if result.rowcount == 0:
            raise LookupError(f"no run {run_id!r} in the store")

    # -- responses ---------------------------------------------------------------------------

    def get_responses(self, hashes: Iterable[str]) -> dict[str, ModelResponse]:
        """Stored successful responses by request hash; errored ones are left out so they are retried."""
        table = _table(Response)
        found: dict[str, ModelResponse] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(hashes)), IN_CHUNK_SIZE):
                query = select(table.c.request_hash, table.c.response).where(
                    table.c.request_hash.in_(chunk), table.c.error.is_(None)
                )
                for request_hash, response in conn.execute(query):
                    found[request_hash] = ModelResponse.from_dict(response)
        return found

    def save_responses(self, rows: Sequence[tuple[str, str, ModelRequest, ModelResponse]]) -> None:
        """Save ``(request_hash, model_key, request, response)`` rows.

        A stored success is never overwritten (another process may have served it already);
        a stored error is replaced by whatever comes later.
        """
        by_hash: dict[str, dict[str, Any]] = {}
        for request_hash, model_key, request, response in rows:
            previous = by_hash.get(request_hash)
            if previous is not None and previous["error"] is None:
                continue  # one statement must not touch a row twice (PostgreSQL refuses)
            by_hash[request_hash] = {
                "request_hash": request_hash,
                "model_key": model_key,
                "request": request.to_dict(),
                "response": response.to_dict(),
                "text": response.text,
                "error": response.error,
                "input_tokens": response.input_tokens,
                "output_tokens": response.output_tokens,
                "latency_s": response.latency_s,
                "created": utcnow(),
            }
        if not by_hash:
            return
        with self.engine.begin() as conn:
            conn.execute(self._response_upsert_statement(), list(by_hash.values()))

    def _response_upsert_statement(self) -> Any:
        # Built once per store: constructing the statement (and its ``excluded`` columns) costs
        # more than executing it for a batch of answers; executemany then reuses its compiled form.
        if self._response_upsert is None:
            table = _table(Response)
            insert = self._insert(table)
            self._response_upsert = insert.on_conflict_do_update(
                index_elements=["request_hash"],
                set_={name: insert.excluded[name] for name in _RESPONSE_COLUMNS_REPLACED},
                where=table.c.error.is_not(None),
            )
        return self._response_upsert

    # -- run items ---------------------------------------------------------------------------

    def save_run_items(self, run_id: str, rows: Sequence[RunItemRow]) -> None:
        """Save what a run made of each item; a row saved again for the same item replaces the old one."""
        now = utcnow()
        by_key = {
            row.item_key: {
                "run_id": run_id,
                "item_key": row.item_key,
                "request_hash": row.request_hash,
                "parsed": row.parsed,
                "score": row.score,
                "updated": now,
            }
            for row in rows
        }
        if not by_key:
            return
        table = _table(RunItem)
        insert = self._insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=["run_id", "item_key"],
            set_={name: insert.excluded[name] for name in ("request_hash", "parsed", "score", "updated")},
        )
        with self.engine.begin() as conn:
            conn.execute(statement, list(by_key.values()))

    def load_run_items(self, run_id: str) -> list[RunItemRow]:
        """A run's rows, ordered by item key."""
        table = _table(RunItem)
        query = (
            select(table.c.item_key, table.c.request_hash, table.c.parsed, table.c.score)
            .where(table.c.run_id == run_id)
            .order_by(table.c.item_key)
        )
        with self.engine.connect() as conn:
            return [RunItemRow(*row) for row in conn.execute(query)]

    # -- judgments ---------------------------------------------------------------------------

    def save_judgments(self, run_id: str, rows: Sequence[JudgmentRow]) -> None:
        """Save a judge run's judgments; a row saved again for the same (item, sample, variant) replaces
        the old one."""
        now = utcnow()
        by_key: dict[tuple[str, int, str], dict[str, Any]] = {}
        for row in rows:
            values = asdict(row)
            values.update(run_id=run_id, created=now)
            by_key[(row.item_key, row.sample_index, row.variant)] = values
        if not by_key:
            return
        table = _table(Judgment)
        insert = self._insert(table)
        statement = insert.on_conflict_do_update(
            index_elements=["run_id", "item_key", "sample_index", "variant"],
            set_={name: insert.excluded[name] for name in _JUDGMENT_COLUMNS_REPLACED},
        )
        with self.engine.begin() as conn:
            conn.execute(statement, list(by_key.values()))

    def load_judgments(self, run_id: str) -> list[JudgmentRow]:
        """A judge run's judgments, ordered by item key, sample index and variant."""
        table = _table(Judgment)
        columns = [table.c[name] for name in _JUDGMENT_FIELDS]
        query = (
            select(*columns)
            .where(table.c.run_id == run_id)
            .order_by(table.c.item_key, table.c.sample_index, table.c.variant)
        )
        with self.engine.connect() as conn:
            return [JudgmentRow(**row) for row in conn.execute(query).mappings()]

    # -- helpers -----------------------------------------------------------------------------

    def _insert(self, table: Table) -> Any:
        """The dialect's INSERT, which carries ``on_conflict_do_update``."""
        make_insert: Callable[[Table], Any] | None = _UPSERT_INSERTS.get(self.engine.dialect.name)
        if make_insert is None:
            raise NotImplementedError(
                f"the store supports SQLite and PostgreSQL, not {self.engine.dialect.name}"
            )
        return make_insert(table)


_RESPONSE_COLUMNS_REPLACED = (
    "model_key",
    "request",
    "response",
    "text",
    "error",
    "input_tokens",
    "output_tokens",
    "latency_s",
    "created",
)

_JUDGMENT_FIELDS = tuple(JudgmentRow.__dataclass_fields__)
_JUDGMENT_COLUMNS_REPLACED = tuple(
    name for name in _JUDGMENT_FIELDS if name not in ("item_key", "sample_index", "variant")
)

_UPSERT_INSERTS: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def _table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


def _normalise_out_dir(out_dir: str | Path | None) -> str | None:
    # Absolute, so that `--out runs/a` and `--out ./runs/a` find the same run.
    return None if out_dir is None else str(Path(out_dir).expanduser().resolve())


def _chunks(values: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _item_payload(item: StoredItem) -> dict[str, Any]:
    """An item's fields as a JSON-ready dict (what ``asdict`` gives, once serialised).

    Items hold only text, numbers, None and tuples of them, so a shallow dict serialises the
    same as ``asdict``'s recursive deep copy, at a tenth of the cost per item.
    """
    return {name: getattr(item, name) for name in _field_names(type(item))}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields(kind))
    return names
