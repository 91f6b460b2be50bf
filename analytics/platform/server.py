"""The limits of the web server in front of Django: sizes, read timeouts, connections per address.

Two layers, because some limits must act before a request reaches any ASGI application:

* :class:`GuardedHttpToolsProtocol` is uvicorn's HTTP/1.1 protocol (httptools) with
  - a header read timeout (``SERVER_HEADER_TIMEOUT``): from the connection's opening, or
    from the first byte of a following request, to the end of the headers; a connection
    that sends nothing, or half a request line or half the headers, gets 408 and is
    closed. uvicorn alone waits for such a connection forever;
  - a cap on open HTTP connections per client address in this process
    (``SERVER_MAX_CONNECTIONS_PER_ADDRESS``): one more gets 503 and is closed at once, so
    many slow clients from one address cannot take the server's connections. The address
    is the socket peer (``proxy_headers`` is off): behind a proxy every client shares it.
    A connection upgraded to a WebSocket leaves the count;
  - the idle keep-alive timeout between requests is uvicorn's (``SERVER_KEEPALIVE_TIMEOUT``).
* :class:`RequestLimits` is ASGI middleware around the whole HTTP application with
  - a body size limit for every path: the event POSTs (``large_body_paths``) are bounded
    by the ingestion fast path at ``INGEST_MAX_BODY_BYTES`` while they stream in; every
    other request at ``REQUEST_MAX_BODY_BYTES``: a larger ``Content-Length`` gets 413
    before a byte of the body is read (and before authentication, so no credential check
    is needed to refuse it), a chunked body is cut off with 413 when it passes the limit.
    Django would otherwise read a whole body into a temporary file before any view runs;
  - a body read timeout (``SERVER_BODY_TIMEOUT``): the whole body must arrive within it
    once the headers are in, else 408. Reads after the body is complete (Django's
    disconnect listener) are not timed.

Both error answers are JSON (``{"error": {"code", "message"}}``) with ``Connection: close``,
so the rest of a refused body is never read into the application.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

from django.conf import settings
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from analytics.core.logging import get_logger

log = get_logger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REASONS = {400: b"Bad Request", 408: b"Request Timeout", 413: b"Content Too Large", 503: b"Service Unavailable"}


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message}}).encode()


# ---------------------------------------------------------------------------------------
# ASGI: body size and body read timeout
# ---------------------------------------------------------------------------------------
class RequestLimits:
    """ASGI middleware: the body size limit and the body read timeout of every HTTP request."""

    def __init__(self, app: ASGIApp, *, large_body_paths: Collection[str]) -> None:
        self.app = app
        self.large_body_paths = frozenset(large_body_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        # The event POSTs are bounded by the ingestion fast path (it cuts the body off at its
        # own limit as it streams in and answers with the ingestion API's documented errors).
        bounded_downstream = scope.get("method") == "POST" and scope.get("path", "") in self.large_body_paths
        limit = None if bounded_downstream else settings.REQUEST_MAX_BODY_BYTES
        declared = _declared_length(scope)
        if declared == -1:
            return await send_error(send, 400, "invalid_content_length", "Content-Length is not a number")
        if limit is not None and declared is not None and declared > limit:
            log.info("server.body_refused", path=scope.get("path"), declared=declared, limit=limit)
            return await send_error(send, 413, "payload_too_large", f"the body is larger than {limit} bytes")
        guard = _BodyGuard(receive, send, limit=limit, timeout=settings.SERVER_BODY_TIMEOUT)
        await self.app(scope, guard.receive, guard.send)


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; None when absent, -1 when not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() and len(text) < 20 else -1
    return None


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = error_body(code, message)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
        (b"x-content-type-options", b"nosniff"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _BodyGuard:
    """The request's ``receive`` and ``send``, counting and timing the body as it arrives.

    When the body passes ``limit`` or is not complete within ``timeout`` seconds, the
    client gets 413 or 408 at once (unless the application already answered), the
    application's next read sees ``http.disconnect`` (Django then drops the request) and
    whatever it sends afterwards is discarded.
    """

    def __init__(self, receive: Receive, send: Send, *, limit: int | None, timeout: float) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.deadline = asyncio.get_running_loop().time() + timeout
        self.received = 0
        self.body_complete = False
        self.failed = False
        self.response_started = False

    async def receive(self) -> Mapping[str, Any]:
        if self.body_complete:
            return await self._receive()
        if self.failed:
            return {"type": "http.disconnect"}
        try:
            # A timer on this task, not a task per read (as wait_for would make): event POSTs pass here.
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            await self._fail(408, "body_timeout", "the request body did not arrive in time")
            return {"type": "http.disconnect"}
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.limit is not None and self.received > self.limit:
            await self._fail(413, "payload_too_large", f"the body is larger than {self.limit} bytes")
            return {"type": "http.disconnect"}
        if not message.get("more_body", False):
            self.body_complete = True
        return message

    async def send(self, message: Mapping[str, Any]) -> None:
        if self.failed:
            return
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)

    async def _fail(self, status: int, code: str, message: str) -> None:
        log.info("server.body_refused", status=status, code=code, received=self.received)
        already_answered = self.response_started
        self.failed = True
        if not already_answered:
            await send_error(self._send, status, code, message)


# ---------------------------------------------------------------------------------------
# HTTP protocol: header read timeout and connections per client address
# ---------------------------------------------------------------------------------------
_CONNECTIONS_PER_ADDRESS: weakref.WeakKeyDictionary[ServerState, Counter[str]] = weakref.WeakKeyDictionary()


def connections_per_address(server_state: ServerState) -> Counter[str]:
    """The open HTTP connections of one server, by client address."""
    counts = _CONNECTIONS_PER_ADDRESS.get(server_state)
    if counts is None:
        counts = _CONNECTIONS_PER_ADDRESS[server_state] = Counter()
    return counts


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header read timeout and a per-address connection cap."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._counted_address: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.client:
            address = self.client[0]
            counts = connections_per_address(self.server_state)
            counts[address] += 1
            self._counted_address = address
            limit = settings.SERVER_MAX_CONNECTIONS_PER_ADDRESS
            if limit and counts[address] > limit:
                log.warning("server.address_limit", client=address, limit=limit)
                self._answer_and_close(503, "too_many_connections", "too many connections from this address")
                return
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        self._uncount()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a following request on a kept-alive connection
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the transport over; its end is not seen here.
        self._cancel_header_timer()
        self._uncount()
        super().handle_websocket_upgrade()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(settings.SERVER_HEADER_TIMEOUT, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        log.info("server.header_timeout", client=self.client[0] if self.client else None)
        self._answer_and_close(408, "header_timeout", "the request headers did not arrive in time")

    def _answer_and_close(self, status: int, code: str, message: str) -> None:
        body = error_body(code, message)
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _REASONS[status]),
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        self.transport.write(b"".join(head) + b"\r\n" + body)
        self.transport.close()

    def _uncount(self) -> None:
        address, self._counted_address = self._counted_address, None
        if address is not None:
            counts = connections_per_address(self.server_state)
            counts[address] -= 1
            if counts[address] <= 0:
                del counts[address]
