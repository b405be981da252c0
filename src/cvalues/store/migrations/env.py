"""Alembic environment of the store.

``open_store`` runs the migrations on its own connection, passed in ``config.attributes``.
Run by hand (``alembic -c <ini with script_location> upgrade head``), the URL comes from
``-x db=URL``, else ``CVALUES_DB``, else the default ``sqlite:///cvalues.db``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from cvalues.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    from cvalues.store.engine import resolve_db_url

    return context.get_x_argument(as_dictionary=True).get("db") or resolve_db_url(None)[0]


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Write the SQL to stdout instead of running it (``alembic upgrade head --sql``), for DBAs."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from cvalues.store.engine import create_store_engine

    engine = create_store_engine(_url())
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
