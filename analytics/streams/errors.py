"""Errors of the stream pipeline that callers above it (ingestion, health) handle."""

from analytics.core.errors import ServiceUnavailable


class BusUnavailable(ServiceUnavailable):
    """The bus did not acknowledge the events; nothing may be reported as accepted."""
