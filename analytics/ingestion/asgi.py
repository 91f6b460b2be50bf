"""The ingestion fast path: event POSTs skip Django's middleware stack.

Under ASGI every ``MiddlewareMixin`` middleware (security, sessions, CSRF, auth, messages,
metrics, ...) runs its hooks through ``sync_to_async``: about a dozen thread hand-offs per
request, which cost more than validating and enriching 100 events. None of them does
anything for a write-key-authenticated event POST, so :class:`IngestionFastPath` sends
``POST`` to the ingestion paths straight to the same views, with what those requests do
need from the stack: the ``ALLOWED_HOSTS`` check, a bounded body read (a body over the limit is cut off while it
streams in, never buffered whole), ``X-Request-ID``, CORS headers for any origin (the
tracker runs on any site; never with credentials), ``nosniff``. Everything else,
preflight ``OPTIONS`` included, goes through Django unchanged.

Install in ``config/asgi.py``: ``"http": IngestionFastPath(django_asgi_app)``.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse

from analytics.core.logging import get_logger
from analytics.core.middleware import request_id_for
from analytics.ingestion.api.urls import EVENT_ROUTES

log = get_logger(__name__)

# As Django's ASGIHandler is typed, so that it can be the wrapped app.
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


def _handlers() -> dict[str, Callable[[Any], Awaitable[HttpResponse]]]:
    return {f"/{route}": view for route, (_name, view) in EVENT_ROUTES.items()}


class IngestionFastPath:
    """ASGI wrapper: ingestion POSTs to the views directly, everything else to ``app``."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self._routes: dict[str, Callable[[Any], Awaitable[HttpResponse]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        if self._routes is None:
            self._routes = _handlers()
        handler = self._routes.get(scope.get("path", ""))
        if handler is None:
            return await self.app(scope, receive, send)
        # The request reads its body from this buffer, filled below: the host is checked
        # before a byte of the body is read, so a disallowed host costs no body read.
        body_file = io.BytesIO()
        request = ASGIRequest(scope, body_file)
        request_id = request_id_for(request)
        request.request_id = request_id  # type: ignore[attr-defined]  # our own attribute; stubs list none
        try:
            request.get_host()  # what CommonMiddleware would check: ALLOWED_HOSTS
        except DisallowedHost:
            log.warning("ingest.fast_path.disallowed_host", request_id=request_id)
            response = HttpResponse(
                b'{"error": {"code": "disallowed_host", "message": "Host header not allowed"}}',
                content_type="application/json",
                status=400,
            )
            return await self._send(send, response, request_id, None)
        body = await self._read_body(receive, settings.INGEST_MAX_BODY_BYTES + 1)
        if body is None:
            return  # the client went away
        body_file.write(body)
        body_file.seek(0)
        try:
            response = await handler(request)
        except Exception:  # a bug, not bad input: answer like Django would, with a JSON body
            log.exception("ingest.fast_path.error", path=scope.get("path"), request_id=request_id)
            response = HttpResponse(
                b'{"error": {"code": "internal_error", "message": "internal error"}}',
                content_type="application/json",
                status=500,
            )
        await self._send(send, response, request_id, request.META.get("HTTP_ORIGIN"))

    @staticmethod
    async def _read_body(receive: Receive, limit: int) -> bytes | None:
        """At most ``limit`` bytes; the views answer 413 (or 400) when the body reaches it."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if size < limit and chunk:
                chunks.append(chunk[: limit - size])
                size += min(len(chunk), limit - size)
            if not message.get("more_body", False) or size >= limit:
                return b"".join(chunks)

    @staticmethod
    async def _send(send: Send, response: HttpResponse, request_id: str, origin: str | None) -> None:
        response["X-Request-ID"] = request_id
        response["X-Content-Type-Options"] = "nosniff"
        # Any page may send events; credentials are never allowed, so this opens nothing else.
        response["Access-Control-Allow-Origin"] = origin or "*"
        response["Access-Control-Expose-Headers"] = "X-Request-ID, Retry-After"
        response["Vary"] = "Origin"
        headers = [(b"content-length", str(len(response.content)).encode())]
        headers += [(name.lower().encode("latin1"), str(value).encode("latin1")) for name, value in response.items()]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": response.content})
