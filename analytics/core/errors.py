"""Errors shared across apps and the DRF exception handler that renders them as JSON."""

from __future__ import annotations

from typing import Any

from rest_framework import status


class ApplicationError(Exception):
    """A domain error with a message meant for the API client."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    code: str = "invalid"

    def __init__(self, message: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"


class ServiceUnavailable(ApplicationError):
    """A dependency (store, bus) cannot take work now; the client should retry."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 5, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, extra=extra)
        self.retry_after = retry_after
