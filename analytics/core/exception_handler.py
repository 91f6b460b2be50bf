"""The DRF exception handler: every API error as ``{"error": {"code", "message", ...}}``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from analytics.core.errors import ApplicationError, ServiceUnavailable


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render every API error as ``{"error": {"code", "message", ...}}``."""
    if isinstance(exc, ApplicationError):
        response = Response(
            {"error": {"code": exc.code, "message": exc.message, **exc.extra}}, status=exc.status_code
        )
        if isinstance(exc, ServiceUnavailable):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"error": {"code": "invalid", "message": "Invalid input.", "fields": response.data}}
    elif isinstance(exc, exceptions.APIException):
        detail = response.data.get("detail", str(exc)) if isinstance(response.data, dict) else str(exc)
        response.data = {"error": {"code": exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code, "message": str(detail)}}
    return response
