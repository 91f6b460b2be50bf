"""Errors raised by the event store. Callers tell transient from permanent by class."""


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
