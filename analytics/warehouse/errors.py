"""Errors raised by the event store. Callers tell transient from permanent by class."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from analytics.core.errors import ServiceUnavailable

T = TypeVar("T")


class StoreError(Exception):
    """Base class of every event-store error."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or timed out; retrying later may succeed."""


class StoreCircuitOpen(StoreUnavailable):
    """The circuit breaker is open: the store failed repeatedly and is not called for a while."""


class StoreQueryError(StoreError):
    """ClickHouse rejected the statement; retrying the same statement will not help."""


class UnscopedQueryError(StoreError):
    """A query against tenant data that is not filtered by project (the tenant guard)."""


class InvalidIdentifier(StoreError, ValueError):
    """A name meant for SQL (property, column) that does not match the strict pattern."""


def read_or_unavailable(read: Callable[[], T]) -> T:
    """``read()``, with an unreachable store turned into the API's 503 (``Retry-After: 5``).

    The store's own message (host, port, driver error) stays in the logs, never in the answer.
    """
    try:
        return read()
    except StoreUnavailable:
        raise ServiceUnavailable("the event store is unavailable; retry shortly", retry_after=5) from None
