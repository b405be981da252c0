"""Running the app with uvicorn (``cvalues annotate serve``)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from cvalues.annotate.app import create_app
from cvalues.annotate.redteam_target import RedTeamTarget
from cvalues.store import open_store


def uvicorn_config(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    forwarded_allow_ips: str | None = None,
    log_level: str = "info",
) -> uvicorn.Config:
    """uvicorn's settings. X-Forwarded-For is believed only from ``forwarded_allow_ips`` (a
    comma-separated list of proxy addresses, or ``*``); by default from nobody, so that a client
    cannot pick its own address to dodge login throttling."""
    trusted = (forwarded_allow_ips or "").strip()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        proxy_headers=bool(trusted),
        # Empty would make uvicorn fall back to $FORWARDED_ALLOW_IPS or 127.0.0.1: name nobody instead.
        forwarded_allow_ips=trusted or "0.0.0.0/32",
    )


def serve(
    db: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    target: RedTeamTarget | None = None,
    secure_cookies: bool = False,
    forwarded_allow_ips: str | None = None,
    log_level: str = "info",
) -> None:
    """Open (and migrate) the store and serve the app until interrupted."""
    store = open_store(db)
    try:
        app = create_app(store, target=target, secure_cookies=secure_cookies)
        # Sessions, CSRF tokens and login throttling live in the store, so several processes
        # serving one PostgreSQL store share them; SQLite prefers a single writer process.
        config = uvicorn_config(
            app, host=host, port=port, forwarded_allow_ips=forwarded_allow_ips, log_level=log_level
        )
        uvicorn.Server(config).run()
    finally:
        store.close()
