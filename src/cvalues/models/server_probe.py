"""One look at an OpenAI-compatible server before a run starts.

Without it, a server that is down (or a wrong port) shows up as every request failing after the
SDK's retries (half a minute each), an empty table, and the error last. ``probe_server`` asks
``GET <base-url>/models`` once with a short timeout, so the first line says what is wrong and no
run is written (exit 2).
"""

from __future__ import annotations

import os

import httpx

from cvalues.core.backend import ModelSpec
from cvalues.core.errors import InputError

PROBE_TIMEOUT_S = 5.0


def probe_server(spec: ModelSpec, *, timeout_s: float = PROBE_TIMEOUT_S, flag: str = "--base-url") -> None:
    """Raise InputError (exit 2) when the server at ``spec.base_url`` cannot be reached or turns
    the key away. Any other answer (even a 404 from a server without ``/models``) means something
    is listening there, and the requests themselves will say the rest. No ``base_url`` (the
    provider's own API): nothing is probed."""
    if spec.provider != "openai" or not spec.base_url:
        return
    url = spec.base_url.rstrip("/") + "/models"
    headers = {}
    key = os.environ.get(spec.api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    # No TLS on a plain http:// URL, so no certificate store to load (about 20 ms of CPU per run).
    verify = not url.startswith("http://")
    try:
        reply = httpx.get(url, headers=headers, timeout=timeout_s, verify=verify)
    except httpx.TimeoutException as exc:
        raise InputError(
            f"the server at {spec.base_url} did not answer GET /models within {timeout_s:g} s", flag=flag
        ) from exc
    except httpx.HTTPError as exc:
        raise InputError(
            f"cannot reach a server at {spec.base_url} ({_why(exc)}); is it running, on that port?",
            flag=flag,
        ) from exc
    if reply.status_code in (401, 403):
        raise InputError(
            f"the server at {spec.base_url} refused the API key (HTTP {reply.status_code}); "
            f"check the variable named by --api-key-env ({spec.api_key_env})",
            flag=flag,
        )


def _why(exc: httpx.HTTPError) -> str:
    cause = exc.__cause__ or exc.__context__
    text = str(cause or exc) or type(exc).__name__
    return text.splitlines()[0][:200]
