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


class SegmentSetMissing(StoreQueryError, ServiceUnavailable):
    """A query named a segment's loaded set (``segment_set_...``) that does not exist.

    Sets of retired versions outlive any query that named them (analytics/segments/sets.py),
    so this is a set lost otherwise: a backup restored without it, dropped by hand. The
    store has bumped the project's segments version, so the next lookup reads the segment
    afresh, finds the set missing and uses the membership rows: a 503 asking to retry, never
    a 500, and never an answer from a half-known membership.
    """

    def __init__(self, name: str) -> None:
        ServiceUnavailable.__init__(
            self, f"a segment's member set ({name}) is missing; retry (the next attempt reads its rows)", retry_after=1
        )
