"""Running the app with uvicorn (``cvalues annotate serve``)."""

from __future__ import annotations

import uvicorn

from cvalues.annotate.app import create_app
from cvalues.annotate.redteam_target import RedTeamTarget
from cvalues.store import open_store


def serve(
    db: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    target: RedTeamTarget | None = None,
    secure_cookies: bool = False,
    log_level: str = "info",
) -> None:
    """Open (and migrate) the store and serve the app until interrupted."""
    store = open_store(db)
    try:
        app = create_app(store, target=target, secure_cookies=secure_cookies)
        # One process: sessions and CSRF tokens live in the store, so more workers would also work,
        # but SQLite prefers a single writer process.
        uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=secure_cookies)
    finally:
        store.close()
