"""The store: datasets, runs, and every request and response, in SQLite or PostgreSQL.

``open_store()`` opens it (``--db`` / ``CVALUES_DB`` / ``./cvalues.db``) and migrates the schema.
"""

from cvalues.store.engine import DB_ENV_VAR, DEFAULT_DB_URL, open_store, resolve_db_url
from cvalues.store.store import JudgmentRow, RunItemRow, RunRecord, Store
from cvalues.store.tables import ITEM_KINDS, RUN_STATUSES

__all__ = [
    "DB_ENV_VAR",
    "DEFAULT_DB_URL",
    "ITEM_KINDS",
    "RUN_STATUSES",
    "JudgmentRow",
    "RunItemRow",
    "RunRecord",
    "Store",
    "open_store",
    "resolve_db_url",
]
