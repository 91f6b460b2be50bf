"""The DRF exception handler: every API error as ``{"error": {"code", "message", ...}}``.

``code`` is always one machine-readable string (``invalid``, ``not_authenticated``,
``token_not_valid``, ``throttled``, ...); ``message`` is for people. Validation errors add
``fields`` (field -> list of messages); throttling adds ``retry_after`` seconds.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from analytics.core.errors import ApplicationError, ServiceUnavailable


def _code_of(exc: exceptions.APIException, data: Any) -> str:
    # simplejwt puts its own code next to "detail" ({"detail", "code", "messages"}).
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        return data["code"]
    codes = exc.get_codes()
    return codes if isinstance(codes, str) else str(exc.default_code)


def _message_of(exc: exceptions.APIException, data: Any) -> str:
    if isinstance(data, dict) and "detail" in data:
        return str(data["detail"])
    return str(exc.detail) if isinstance(exc.detail, str) else str(exc.default_detail)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as ``{"error": {"code", "message", ...}}``."""
    if isinstance(exc, ApplicationError):
        response = Response({"error": {**exc.extra, "code": exc.code, "message": exc.message}}, status=exc.status_code)
        if isinstance(exc, ServiceUnavailable):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        # A model's full_clean() in a service: the client's input, so a 400 with the fields.
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    handled = exception_handler(exc, context)
    if handled is None or not isinstance(exc, exceptions.APIException):
        return handled  # not an API error: Django renders a 500 and logs it
    response = handled
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": {"code": "invalid", "message": "Invalid input.", "fields": response.data}}
        return response
    error: dict[str, Any] = {"code": _code_of(exc, response.data), "message": _message_of(exc, response.data)}
    wait = getattr(exc, "wait", None) if isinstance(exc, exceptions.Throttled) else None
    if wait is not None:
        error["retry_after"] = max(1, round(wait))
    response.data = {"error": error}
    return response
