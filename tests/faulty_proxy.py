"""An HTTP proxy on loopback that fails the first requests on purpose, then forwards to a server.

``FaultyProxy(upstream, faults=[429, 500])`` answers the first request with 429 (and
``Retry-After: 1``), the second with 500, and forwards every later one. A fault ``HANG``
holds the request for ``hang_s`` seconds before forwarding it (a client's timeout fires
first). It records when each request arrived, so a test can check how many attempts a client
made and how far apart.

``FaultyProxy(upstream, max_in_flight=2)`` sheds load as an overloaded API does: a request
that arrives while ``max_in_flight`` others are being served gets 429 with
``retry-after-ms: shed_retry_after_ms``. ``shed`` counts those answers and
``max_forwarded`` the most requests it ever had upstream at once.

``methods=("POST",)`` lets every GET through (the CLI's ``GET /models`` probe before a run) and
faults only the completions. The fault ``200`` is a 200 whose body is not JSON (a proxy's error
page), which the openai SDK does not retry by itself.
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

RETRY_AFTER_S = 1
HANG = -1  # a fault: hold the request for ``hang_s`` before forwarding it


class _ProxyServer(ThreadingHTTPServer):
    request_queue_size = 128  # a client opening dozens of connections at once must not be refused
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that went away (killed by a drill, timed out) is expected, not a traceback.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class FaultyProxy:
    def __init__(
        self,
        upstream: str,
        faults: Sequence[int] = (),
        *,
        hang_s: float = 5.0,
        max_in_flight: int | None = None,
        shed_retry_after_ms: int = 50,
        methods: Sequence[str] = ("GET", "POST"),
    ) -> None:
        """``upstream``: the server's root, e.g. ``http://127.0.0.1:8080``; ``faults``: the
        status codes (or ``HANG``) to answer the first ``len(faults)`` requests with."""
        self.upstream = upstream.rstrip("/")
        self.faults = list(faults)
        self.hang_s = hang_s
        self.max_in_flight = max_in_flight
        self.shed_retry_after_ms = shed_retry_after_ms
        self.methods = tuple(methods)
        self.shed = 0
        self.forwarding = 0
        self.max_forwarded = 0
        self.arrivals: list[float] = []
        self._lock = threading.Lock()
        self._server = _ProxyServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def attempts(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def __enter__(self) -> FaultyProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_fault(self, method: str = "POST") -> int | None:
        if method not in self.methods:
            return None
        with self._lock:
            self.arrivals.append(time.monotonic())
            index = len(self.arrivals) - 1
        return self.faults[index] if index < len(self.faults) else None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._handle(None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self._handle(self.rfile.read(length))

            def _handle(self, body: bytes | None) -> None:
                fault = proxy._next_fault(self.command)
                if fault == 200:
                    self._reply(200, b"<html>502 Bad Gateway</html>", "application/json", False)
                    return
                if fault == HANG:
                    time.sleep(proxy.hang_s)
                    fault = None
                if proxy.max_in_flight is not None and body is not None:
                    with proxy._lock:
                        overloaded = proxy.forwarding >= proxy.max_in_flight
                        if overloaded:
                            proxy.shed += 1
                        else:
                            proxy.forwarding += 1
                            proxy.max_forwarded = max(proxy.max_forwarded, proxy.forwarding)
                    if overloaded:
                        self._shed()
                        return
                    try:
                        self._forward(body)
                    finally:
                        with proxy._lock:
                            proxy.forwarding -= 1
                    return
                if fault is not None:
                    self._reply(
                        fault, b'{"error": {"message": "injected fault"}}', "application/json", fault == 429
                    )
                    return
                self._forward(body)

            def _shed(self) -> None:
                payload = b'{"error": {"message": "overloaded, slow down"}}'
                self.send_response(429)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("retry-after-ms", str(proxy.shed_retry_after_ms))
                self.end_headers()
                self.wfile.write(payload)

            def _forward(self, body: bytes | None) -> None:
                request = urllib.request.Request(
                    proxy.upstream + self.path,
                    data=body,
                    method=self.command,
                    headers={"Content-Type": self.headers.get("Content-Type", "application/json")},
                )
                try:
                    with urllib.request.urlopen(request, timeout=120) as reply:
                        status, payload, kind = reply.status, reply.read(), reply.headers.get_content_type()
                except urllib.error.HTTPError as error:
                    status, payload, kind = error.code, error.read(), error.headers.get_content_type()
                self._reply(status, payload, kind, False)

            def _reply(self, status: int, payload: bytes, kind: str, retry_after: bool) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                if retry_after:
                    self.send_header("Retry-After", str(RETRY_AFTER_S))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
                return

        return Handler
