"""The annotation store: the store's engine plus dialect-aware upserts over the annotation tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite

from cvalues.store import annotation_tables as tables

# The store's engine reads this execution option in its SQLite "begin" hook (store/engine.py);
# other databases ignore it.
SQLITE_BEGIN_OPTION = "cvalues_sqlite_begin"

_UPSERT_INSERTS: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


def table(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined, no-any-return]


ANNOTATORS = table(tables.Annotator)
SESSIONS = table(tables.AnnotationSession)
TASKS = table(tables.AnnotationTask)
ITEMS = table(tables.AnnotationItem)
ASSIGNMENTS = table(tables.Assignment)
ANNOTATIONS = table(tables.Annotation)
ADJUDICATIONS = table(tables.Adjudication)
COLLECTED = table(tables.CollectedPrompt)


def upsert_insert(engine: Engine, target: Table) -> Any:
    """The dialect's INSERT, which carries ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    make_insert = _UPSERT_INSERTS.get(engine.dialect.name)
    if make_insert is None:
        raise NotImplementedError(f"annotation supports SQLite and PostgreSQL, not {engine.dialect.name}")
    return make_insert(target)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write. On SQLite it takes the write lock up front (BEGIN IMMEDIATE):
    a deferred transaction that reads first and writes later fails with "database is locked" as
    soon as another writer committed in between, and the busy timeout cannot help it."""
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            yield conn
