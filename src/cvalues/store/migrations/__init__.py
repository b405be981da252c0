"""Alembic migrations of the store, applied by ``cvalues.store.open_store``."""
