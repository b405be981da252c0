"""The annotation store: the store's engine plus dialect-aware upserts over the annotation tables."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

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
LOGIN_FAILURES = table(tables.LoginFailure)


def upsert_insert(engine: Engine, target: Table) -> Any:
    """The dialect's INSERT, which carries ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""
    make_insert = _UPSERT_INSERTS.get(engine.dialect.name)
    if make_insert is None:
        raise NotImplementedError(f"annotation supports SQLite and PostgreSQL, not {engine.dialect.name}")
    return make_insert(target)


class StoreBusy(Exception):
    """Another connection held the write lock longer than ``WRITE_WAIT_S``: the app answers 503
    with Retry-After, and the annotator's form is kept for the retry."""


# How long one write may wait for the lock in all (SQLite: retried BEGIN IMMEDIATE with a short
# busy timeout; PostgreSQL: lock_timeout). Bounded so that a stuck writer elsewhere costs a request
# a few seconds and a 503, not 30 s and a 500.
WRITE_WAIT_S = 4.0
RETRY_AFTER_S = 5
_SQLITE_ATTEMPT_MS = 250
_SQLITE_DEFAULT_BUSY_MS = 30_000
_PG_LOCK_NOT_AVAILABLE = "55P03"
# Set by the app per request (request_limits.WriteGate): the moment by which any write of this
# request gives up, so that time spent queueing for a writer slot counts against the same bound.
write_deadline: ContextVar[float | None] = ContextVar("cvalues_write_deadline", default=None)


def is_lock_error(exc: BaseException) -> bool:
    """SQLite's "database is locked"/"busy" or PostgreSQL's lock_timeout (SQLSTATE 55P03)."""
    original = getattr(exc, "orig", exc)
    if getattr(original, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE:
        return True
    text = str(original).lower()
    return "database is locked" in text or "database is busy" in text or "lock timeout" in text


def _set_sqlite_busy_ms(conn: Connection, milliseconds: int) -> None:
    # Straight on the DBAPI connection: through SQLAlchemy the PRAGMA would open a transaction.
    conn.connection.driver_connection.execute(f"PRAGMA busy_timeout={int(milliseconds)}")  # type: ignore[union-attr]


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A short transaction that will write; ``StoreBusy`` when the lock stays taken ``WRITE_WAIT_S``.

    On SQLite it takes the write lock up front (BEGIN IMMEDIATE): a deferred transaction that reads
    first and writes later fails with "database is locked" as soon as another writer committed in
    between, and the busy timeout cannot help it. BEGIN IMMEDIATE is retried with a short busy
    timeout and backoff until the deadline; once it succeeds the transaction waits on nothing.
    On PostgreSQL, ``lock_timeout`` bounds each statement's wait for row or table locks."""
    deadline = write_deadline.get() or time.monotonic() + WRITE_WAIT_S
    is_sqlite = engine.dialect.name == "sqlite"
    delay = 0.02
    while True:
        conn = engine.connect()
        try:
            if is_sqlite:
                _set_sqlite_busy_ms(conn, _SQLITE_ATTEMPT_MS)
            conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            transaction = conn.begin()
            break
        except OperationalError as exc:
            _close(conn, is_sqlite)
            if not is_lock_error(exc):
                raise
            if time.monotonic() + delay >= deadline:
                raise StoreBusy() from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.4)
        except BaseException:
            _close(conn, is_sqlite)
            raise
    try:
        with transaction:
            if engine.dialect.name == "postgresql":
                left_ms = max(100, int((deadline - time.monotonic()) * 1000))
                conn.exec_driver_sql(f"SET LOCAL lock_timeout = {left_ms}")
            yield conn
    except OperationalError as exc:
        if is_lock_error(exc):
            raise StoreBusy() from exc
        raise
    finally:
        _close(conn, is_sqlite)


def _close(conn: Connection, is_sqlite: bool) -> None:
    if is_sqlite and not conn.closed:
        with suppress(Exception):  # a broken connection is discarded by the pool anyway
            _set_sqlite_busy_ms(conn, _SQLITE_DEFAULT_BUSY_MS)
    conn.close()
