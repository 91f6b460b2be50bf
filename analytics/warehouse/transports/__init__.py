"""Transports: how SQL reaches ClickHouse. Chosen by the scheme of ``CLICKHOUSE_URL``."""

from __future__ import annotations

from urllib.parse import urlparse

from analytics.warehouse.transports.base import QueryResult, Transport


def transport_from_url(url: str, *, query_timeout: int, connect_timeout: int) -> Transport:
    scheme = urlparse(url).scheme
    if scheme == "chdb":
        # Each transport loads its own driver (chDB alone maps ~200 MB): import only the one configured.
        from analytics.warehouse.transports.chdb_transport import ChdbTransport  # noqa: PLC0415

        return ChdbTransport.from_url(url, query_timeout=query_timeout)
    if scheme in ("clickhouse", "clickhouses"):
        from analytics.warehouse.transports.native import NativeTransport  # noqa: PLC0415 - see above

        return NativeTransport.from_url(url, query_timeout=query_timeout, connect_timeout=connect_timeout)
    raise ValueError(f"CLICKHOUSE_URL: unsupported scheme {scheme!r} (expected chdb or clickhouse)")


__all__ = ["QueryResult", "Transport", "transport_from_url"]
