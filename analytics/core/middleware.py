"""Request id propagation and the one access-log line per request.

``X-Request-ID`` is honoured when it looks like an id (else a new one is generated) and
echoed on the response. It is bound into the logging context, so every line logged while
serving the request carries it; ``user_id`` and ``project_id`` are added when known.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import cast

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponseBase
from django.utils.functional import SimpleLazyObject

from analytics.core.logging import get_logger

log = get_logger("analytics.http")

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Probes and scrapes would drown the log; they are counted by django-prometheus instead.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def request_id_for(request: HttpRequest) -> str:
    """The client's ``X-Request-ID`` when it is well formed, else a new one."""
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds request_id into the logging context for the whole request (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        request_id, started = self._start(request)
        # Not async: get_response is the synchronous handler chain and returns a response.
        response = cast(HttpResponseBase, self.get_response(request))
        return self._finish(request, response, request_id, started)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        request_id, started = self._start(request)
        # Async: get_response is a coroutine function (checked in __init__).
        response = await cast("Awaitable[HttpResponseBase]", self.get_response(request))
        return self._finish(request, response, request_id, started)

    @staticmethod
    def _start(request: HttpRequest) -> tuple[str, float]:
        request_id = request_id_for(request)
        request.request_id = request_id  # type: ignore[attr-defined]  # our own attribute; stubs list none
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        return request_id, time.perf_counter()

    @staticmethod
    def _finish(request: HttpRequest, response: HttpResponseBase, request_id: str, started: float) -> HttpResponseBase:
        response["X-Request-ID"] = request_id
        if request.path_info not in _QUIET_PATHS:
            user_id = _known_user_id(request)
            # The path only: query strings may carry keys.
            log.info(
                "http.request",
                method=request.method,
                path=request.path_info,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                # user_id may already be in the context (bound at authentication); do not pass it twice.
                **({"user_id": user_id} if user_id is not None and not _bound("user_id") else {}),
            )
        return response


def _bound(key: str) -> bool:
    return key in structlog.contextvars.get_contextvars()


def _known_user_id(request: HttpRequest) -> int | None:
    """The user's id if authentication already ran; never triggers a session lookup itself."""
    # DRF replaces request.user with the authenticated user (JWT, API key); session auth
    # leaves a lazy object that caches its result in _cached_user once evaluated.
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        user = request.__dict__.get("_cached_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return user.pk
    return None


def bind_log_context(**values: object) -> None:
    """Add project_id / user_id etc. to every log line of the current request."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})
