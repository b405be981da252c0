"""Open the store: resolve its URL, create the engine, bring the schema to the latest migration."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from cvalues.core.errors import InputError
from cvalues.store.store import Store

DB_ENV_VAR = "CVALUES_DB"
DEFAULT_DB_URL = "sqlite:///cvalues.db"
MIGRATIONS_DIR = Path(__file__).resolve().with_name("migrations")

# Any constant works; it only has to be the same in every process that migrates the database.
_PG_MIGRATION_LOCK = 0x63_76_61_6C  # "cval"
_SQLITE_BUSY_TIMEOUT_MS = 30_000
_SQLITE_BEGIN_OPTION = "cvalues_sqlite_begin"

# Chinese is stored as is, not as \u escapes: readable in any SQL client, and smaller.
_json_dumps = functools.partial(json.dumps, ensure_ascii=False)


def resolve_db_url(url: str | None = None) -> tuple[str, str | None]:
    """The store URL and where it came from: the ``--db`` value, ``CVALUES_DB``, or the default."""
    if url:
        return url, "--db"
    from_env = os.environ.get(DB_ENV_VAR)
    if from_env:
        return from_env, DB_ENV_VAR
    return DEFAULT_DB_URL, None


def open_store(url: str | None = None) -> Store:
    """Open (creating if needed) the store at ``url``, else ``$CVALUES_DB``, else ``./cvalues.db``.

    The schema is migrated to the latest revision; opening an up-to-date store changes nothing.
    A URL that cannot be used raises ``InputError`` naming ``--db`` or ``CVALUES_DB``.
    """
    raw_url, origin = resolve_db_url(url)
    engine = create_store_engine(raw_url, origin=origin)
    from alembic.util import CommandError

    try:
        upgrade_to_head(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _bad_url(raw_url, origin, f"cannot open the store: {_first_line(exc)}") from exc
    except CommandError as exc:  # e.g. a schema revision written by a newer cvalues
        engine.dispose()
        raise _bad_url(raw_url, origin, f"cannot migrate the store: {_first_line(exc)}") from exc
    except BaseException:
        engine.dispose()
        raise
    return Store(engine)


def create_store_engine(url: str, *, origin: str | None = None) -> Engine:
    """An engine for ``url`` with the store's JSON encoding and, for SQLite, WAL and a busy timeout."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise _bad_url(
            url, origin, "not a database URL (e.g. sqlite:///cvalues.db, postgresql://...)"
        ) from exc
    is_sqlite = parsed.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps}
    if is_sqlite:
        kwargs.update(_sqlite_engine_options(parsed))
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ArgumentError, ImportError) as exc:
        raise _bad_url(url, origin, f"unsupported database or missing driver: {_first_line(exc)}") from exc
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def upgrade_to_head(engine: Engine) -> None:
    """Run ``alembic upgrade head`` on ``engine``, skipping Alembic entirely when already at head."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.connect() as conn:
        if set(MigrationContext.configure(conn).get_current_heads()) == heads:
            return
    with engine.connect() as conn:
        # Two processes opening a fresh store at once must not both create the tables:
        # SQLite takes the write lock up front, PostgreSQL an advisory lock.
        conn.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def alembic_config() -> Any:
    """An Alembic config pointing at the migrations shipped in the package (no alembic.ini)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def _sqlite_engine_options(url: URL) -> dict[str, Any]:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    # The pool hands a connection to one thread at a time, so sqlite3's same-thread check is moot.
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if in_memory:
        # Every new connection to :memory: is a new empty database: keep a single one.
        options["poolclass"] = StaticPool
    elif not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return options


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins: the module
        # otherwise skips BEGIN before DDL, which would leave half-applied migrations behind.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster commits
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN_OPTION, "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def _bad_url(url: str, origin: str | None, reason: str) -> InputError:
    shown = _hide_password(url)
    if origin is None:
        return InputError(f"store URL {shown!r}: {reason} (set it with --db or {DB_ENV_VAR})")
    return InputError(f"store URL {shown!r}: {reason}", flag=origin)


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return url


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
