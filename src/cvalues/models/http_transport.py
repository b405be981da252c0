"""The two transports under the chat client: one POST, back a status, headers and body.

``LeanTransport`` is for the hot path: a plain ``http://`` server with no proxy in between
(a local vLLM, llama.cpp or any OpenAI-compatible server on the network), where the client's
own cost per request is what limits a run. It keeps HTTP/1.1 connections alive in a small
pool, writes one pre-built request (head and body in one write), and parses the answer with
``httptools`` (the C llhttp parser uvicorn uses). Against a loopback server it costs about
0.08 ms of CPU per request, where aiohttp's ``ClientSession.post`` costs about 0.19 ms
(benchmarks/api_runner.py; measured with 1,000 requests, 32 at a time).

``AiohttpTransport`` is for everything else: HTTPS, and an HTTP(S)_PROXY that the environment
sets for the URL (read once, not per request). Remote APIs answer in hundreds of ms, where a
tenth of a ms of client time does not matter, and aiohttp does TLS and proxies properly.

Both raise ``TimeoutError`` when an attempt takes longer than ``timeout_s`` (connecting,
waiting for a free connection, sending and reading included, as aiohttp's total timeout) and
``ConnectionError`` (refused, reset, closed mid-answer, a malformed answer); the chat client
decides what to retry.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

try:  # a compiled wheel; without one (an unusual platform) every server goes through aiohttp
    import httptools
except ImportError:  # pragma: no cover - wheels exist for the platforms CI runs on
    httptools = None  # type: ignore[assignment]

Answer = tuple[int, Mapping[str, str], bytes]  # (status, headers with lower-case names, body)


class Transport(Protocol):
    async def post(self, body: bytes) -> Answer: ...

    async def aclose(self) -> None: ...


def open_transport(
    url: str, headers: Mapping[str, str], *, timeout_s: float, max_connections: int, kind: str = "auto"
) -> Transport:
    """The transport for ``url``: lean where it can be (``kind="auto"``), or the one ``kind`` names."""
    proxy, proxy_auth = env_proxy(url)
    lean_usable = httptools is not None and urlsplit(url).scheme == "http" and proxy is None
    if kind == "lean" or (kind == "auto" and lean_usable):
        if not lean_usable:
            raise ValueError(f"the lean transport needs a plain http:// URL with no proxy, not {url}")
        return LeanTransport(url, headers, timeout_s=timeout_s, max_connections=max_connections)
    if kind not in ("auto", "aiohttp"):
        raise ValueError(f"unknown transport {kind!r}: auto, lean or aiohttp")
    return AiohttpTransport(
        url, headers, timeout_s=timeout_s, max_connections=max_connections, proxy=proxy, proxy_auth=proxy_auth
    )


def env_proxy(url: str) -> tuple[URL | None, aiohttp.BasicAuth | None]:
    """The proxy HTTP(S)_PROXY / NO_PROXY name for ``url`` (what aiohttp's ``trust_env`` picks), or none."""
    try:
        return get_env_proxy_for_url(URL(url))
    except LookupError:  # no proxy for this scheme, or NO_PROXY excludes the host
        return None, None


# -- lean: HTTP/1.1 keep-alive over asyncio, parsed by httptools ---------------------------------


class LeanTransport:
    def __init__(
        self, url: str, headers: Mapping[str, str], *, timeout_s: float, max_connections: int
    ) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 80
        self.timeout_s = timeout_s
        self.max_connections = max(1, max_connections)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address in brackets
        host += f":{parts.port}" if parts.port else ""  # never the URL's user:password@
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        # Built once; each request adds its length and body. No Accept-Encoding: answers come
        # uncompressed (a server that compresses anyway is still read, see _decoded).
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.connections_opened = 0  # over the transport's life (tests and diagnostics)
        self._slots: asyncio.Semaphore | None = None

    async def post(self, body: bytes) -> Answer:
        if self._slots is None:  # made on first use, on the loop that uses it
            self._slots = asyncio.Semaphore(self.max_connections)
        request = b"%s%d\r\n\r\n%s" % (self._head, len(body), body)
        async with asyncio.timeout(self.timeout_s), self._slots:
            while self._idle:  # the most recently used first: the least likely to have timed out
                connection = self._idle.pop()
                if connection.closed:
                    continue
                try:
                    return await self._exchange(connection, request)
                except _StaleConnection:
                    continue  # the server closed it while idle; the request never reached it
            return await self._exchange(await self._connect(), request)

    async def aclose(self) -> None:
        for connection in list(self._open):
            connection.close()
        self._open.clear()
        self._idle.clear()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self.host, self.port)
        self.connections_opened += 1
        self._open.add(connection)
        return connection

    async def _exchange(self, connection: _Connection, request: bytes) -> Answer:
        try:
            status, headers, body, keep_alive = await connection.exchange(request)
        except BaseException:  # a timeout or cancellation mid-answer leaves it unusable
            connection.close()
            self._open.discard(connection)
            raise
        if keep_alive and not connection.closed:
            self._idle.append(connection)
        else:
            connection.close()
            self._open.discard(connection)
        return status, headers, _decoded(headers, body)


class _StaleConnection(ConnectionError):
    """A kept-alive connection was closed before any answer came: send on a fresh one."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, the answer parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.answered = 0  # answers read in full on this connection
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, dict[str, str], bytes, bool]] | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._received = False
        self._headers_done = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is None or self._waiter.done():
            return
        if self._headers_done and not _has_length(self._headers):
            self.on_message_complete(keep_alive=False)  # an answer delimited by closing the connection
        elif not self._received and self.answered:
            self._fail(_StaleConnection("the server closed the kept-alive connection"))
        else:
            detail = f": {exc}" if exc else ""
            self._fail(ConnectionError(f"the server closed the connection mid-answer{detail}"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self, keep_alive: bool | None = None) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if keep_alive is None:
            keep_alive = self._parser.should_keep_alive()
        self.answered += 1
        waiter.set_result((self._parser.get_status_code(), self._headers, b"".join(self._body), keep_alive))

    # the client side

    async def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes, bool]:
        if self.closed or self.transport is None:
            raise _StaleConnection("the connection is closed")
        self._headers, self._body, self._received, self._headers_done = {}, [], False, False
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: Exception) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)


def _has_length(headers: Mapping[str, str]) -> bool:
    return "content-length" in headers or "transfer-encoding" in headers


def _decoded(headers: Mapping[str, str], body: bytes) -> bytes:
    """The body as sent, uncompressed if a server compressed it without being asked."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


# -- aiohttp: HTTPS and proxies ------------------------------------------------------------------


class AiohttpTransport:
    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        timeout_s: float,
        max_connections: int,
        proxy: URL | None = None,
        proxy_auth: aiohttp.BasicAuth | None = None,
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._headers = dict(headers)
        self._max_connections = max(1, max_connections)
        self._proxy = proxy
        self._proxy_auth = proxy_auth
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the event loop it was made on.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                skip_auto_headers=("User-Agent",),
                # The proxy is read from the environment once (open_transport), not per request:
                # aiohttp's ``trust_env=True`` looks it (and .netrc) up in a worker thread for
                # every request, two thread hops that cost more than a fast server's answer.
                # .netrc is not consulted: the bearer key is the authorisation.
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
                trust_env=False,
            )
        return self._session

    async def post(self, body: bytes) -> Answer:
        try:
            async with self._get_session().post(self.url, data=body) as reply:
                return reply.status, reply.headers, await reply.read()
        except aiohttp.ClientError as exc:  # refused, reset, closed mid-answer, ...
            raise ConnectionError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
