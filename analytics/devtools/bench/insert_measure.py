"""Insert throughput of the store next to the raw engine, for the benchmark suite (issue 7).

Stable entry point: :func:`measure_insert`. Not used by tests (no timing in tests).

Both sides insert the SAME Arrow batches into two scratch tables created ``AS events``
(same columns, engine, sort key, TTL and settings), alternating batch by batch so both
see the same machine load; the scratch tables are dropped afterwards. Both sides insert
with the store's event insert settings (``EventStore.event_insert_settings``), so the
ratio is the cost of our path, not of a setting.

- store side: ``EventStore.insert_events`` (dedup token, retries, circuit breaker,
  metrics, the transport's insert) with ``into=`` the scratch table;
- raw side, ``chdb``: ``INSERT ... SELECT FROM Python(arrow)`` on the same chDB session,
  nothing of ours in between;
- raw side, ``native``: clickhouse-driver's own columnar ``execute`` of the same rows,
  with the value lists built before the clock starts (the store's side builds the same
  lists from Arrow inside its insert, so the ratio shows the whole cost of our path). Needs ``url`` of a server that has the events schema
  (ClickHouse 22.x+; Debian's 18.16 cannot hold it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pyarrow as pa
from clickhouse_driver import Client

from analytics.warehouse.store import EventStore, get_store
from analytics.warehouse.transports.common import column_list, settings_clause
from analytics.warehouse.transports.native import NativeTransport, _column_values

DEFAULT_BATCH_ROWS = 50_000


def _timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def _batches(table: pa.Table, batch_rows: int) -> list[pa.Table]:
    return [table.slice(offset, batch_rows) for offset in range(0, table.num_rows, batch_rows)]


def _native_store(url: str) -> EventStore:
    return EventStore(NativeTransport.from_url(url, query_timeout=300, connect_timeout=10), retries=0)


class _RawChdb:
    """Raw side on the store's own chDB session (chDB allows one session per process)."""

    label = "raw chDB Arrow insert (INSERT ... SELECT FROM Python(arrow))"

    def __init__(self, store: EventStore) -> None:
        transport: Any = store.transport
        self._session = transport._session
        self._lock = transport._lock
        self._settings = settings_clause(store.event_insert_settings())

    def run_sql(self, sql: str) -> None:
        with self._lock:
            self._session.query(sql)

    def prepare(self, batch: pa.Table) -> Any:
        return batch

    def insert(self, name: str, batch: pa.Table, prepared: Any) -> None:
        arrow_batch = prepared  # noqa: F841 - found by name by the Python() table function
        columns = column_list(batch.column_names)
        self.run_sql(f"INSERT INTO {name} ({columns}) {self._settings} SELECT {columns} FROM Python(arrow_batch)")

    def close(self) -> None:
        """The session belongs to the store."""


class _RawNative:
    """Raw side: clickhouse-driver's columnar insert, lists built before the clock starts."""

    label = "raw clickhouse-driver columnar insert (value lists built before timing)"

    def __init__(self, store: EventStore) -> None:
        transport: Any = store.transport
        self._transport = transport
        self._client = Client(**transport._client_kwargs)
        self._settings = store.event_insert_settings()
        self.target = ""

    def run_sql(self, sql: str) -> None:
        self._client.execute(sql)

    def prepare(self, batch: pa.Table) -> Any:
        # The best the driver can be given: the same lists the store builds, made untimed.
        types = self._transport._column_types(self.target)
        return [
            _column_values(column, types.get(name))
            for name, column in zip(batch.column_names, batch.columns, strict=True)
        ]

    def insert(self, name: str, batch: pa.Table, prepared: Any) -> None:
        self._client.execute(
            f"INSERT INTO {name} ({column_list(batch.column_names)}) VALUES",
            prepared,
            columnar=True,
            settings=self._settings,
        )

    def close(self) -> None:
        self._client.disconnect()


def measure_insert(
    transport_name: str,
    table: pa.Table,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    url: str | None = None,
    store: EventStore | None = None,
) -> dict[str, Any]:
    """Rows/s of the store's insert path and of the raw engine on the same rows.

    ``transport_name``: ``"chdb"`` (uses ``store`` or the process's store, which must be
    chDB; chDB allows one session per process) or ``"native"`` (needs ``url``,
    ``clickhouse://...``). ``table``: events in :data:`analytics.warehouse.schema.ARROW_SCHEMA`.

    Returns ``{"transport", "rows", "batches", "batch_rows", "store_seconds", "raw_seconds",
    "store_rows_per_second", "raw_rows_per_second", "ratio", "raw_label"}``; ``ratio`` is
    store/raw (target >= 0.70).
    """
    raw: _RawChdb | _RawNative
    if transport_name == "chdb":
        active = store or get_store()
        if active.transport.name != "chdb":
            raise ValueError(f"measure_insert('chdb') needs a chDB store, got {active.transport.name!r}")
        raw = _RawChdb(active)
    elif transport_name == "native":
        if not url:
            raise ValueError("measure_insert('native') needs url='clickhouse://...' of a server with the events schema")
        active = _native_store(url)
        raw = _RawNative(active)
    else:
        raise ValueError(f"unknown transport {transport_name!r} (chdb or native)")

    suffix = uuid4().hex[:8]
    store_table, raw_table = f"bench_store_events_{suffix}", f"bench_raw_events_{suffix}"
    batches = _batches(table, batch_rows)
    store_seconds = raw_seconds = 0.0
    try:
        raw.run_sql(f"CREATE TABLE {store_table} AS events")
        raw.run_sql(f"CREATE TABLE {raw_table} AS events")
        if isinstance(raw, _RawNative):
            raw.target = raw_table
        for index, batch in enumerate(batches):
            prepared = raw.prepare(batch)
            token = f"bench-{suffix}-{index}"

            def raw_side(batch: pa.Table = batch, prepared: Any = prepared) -> None:
                raw.insert(raw_table, batch, prepared)

            def store_side(batch: pa.Table = batch, token: str = token) -> None:
                active.insert_events(batch, dedup_token=token, into=store_table)

            # Alternate which side goes first so neither always meets the other's merges.
            if index % 2 == 0:
                raw_seconds += _timed(raw_side)
                store_seconds += _timed(store_side)
            else:
                store_seconds += _timed(store_side)
                raw_seconds += _timed(raw_side)
    finally:
        for name in (store_table, raw_table):
            raw.run_sql(f"DROP TABLE IF EXISTS {name}")
        raw.close()
        if transport_name == "native":
            active.close()
    rows = table.num_rows
    store_rate = rows / store_seconds if store_seconds else 0.0
    raw_rate = rows / raw_seconds if raw_seconds else 0.0
    return {
        "transport": transport_name,
        "rows": rows,
        "batches": len(batches),
        "batch_rows": batch_rows,
        "store_seconds": store_seconds,
        "raw_seconds": raw_seconds,
        "store_rows_per_second": store_rate,
        "raw_rows_per_second": raw_rate,
        "ratio": store_rate / raw_rate if raw_rate else 0.0,
        "raw_label": raw.label,
    }
