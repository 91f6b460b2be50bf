"""Request id propagation: honour ``X-Request-ID``, else generate one; echo it back."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _request_id(request: HttpRequest) -> str:
    incoming = request.headers.get("X-Request-ID", "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Binds request_id into the logging context for the whole request (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse | Awaitable[HttpResponse]]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if self.is_async:
            return self._acall(request)
        request_id = self._start(request)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id  # type: ignore[index]
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = self._start(request)
        response = await self.get_response(request)  # type: ignore[misc]
        response["X-Request-ID"] = request_id
        return response

    @staticmethod
    def _start(request: HttpRequest) -> str:
        request_id = _request_id(request)
        request.request_id = request_id  # type: ignore[attr-defined]
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        return request_id


def bind_log_context(**values: object) -> None:
    """Add project_id / user_id etc. to every log line of the current request."""
    structlog.contextvars.bind_contextvars(**{k: v for k, v in values.items() if v is not None})
