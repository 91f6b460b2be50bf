"""The events table's columns, and conversion of enriched events into Arrow.

Every hop agrees on one row shape: a ``dict`` with the keys of :data:`EVENT_COLUMNS`
(missing optional keys get their defaults). Times are epoch milliseconds (int) or
aware datetimes; ``properties`` is a JSON string; UUIDs are canonical strings.
See ``docs/event-store.md`` for why each column exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from analytics.core.timeutils import to_epoch_ms

_MS = pa.timestamp("ms", tz="UTC")

# name -> (ClickHouse type, Arrow type, default)
EVENT_COLUMNS: dict[str, tuple[str, pa.DataType, Any]] = {
    "project_id": ("UInt64", pa.uint64(), None),
    "event_id": ("UUID", pa.string(), None),
    "event": ("LowCardinality(String)", pa.string(), None),
    "distinct_id": ("String", pa.string(), None),
    "person_id": ("UUID", pa.string(), None),
    "session_id": ("String", pa.string(), ""),
    "timestamp": ("DateTime64(3, 'UTC')", _MS, None),
    "received_at": ("DateTime64(3, 'UTC')", _MS, None),
    "sent_at": ("Nullable(DateTime64(3, 'UTC'))", _MS, None),
    "source_id": ("LowCardinality(String)", pa.string(), ""),
    "lib": ("LowCardinality(String)", pa.string(), ""),
    "lib_version": ("LowCardinality(String)", pa.string(), ""),
    "properties": ("String", pa.string(), "{}"),
    "url": ("String", pa.string(), ""),
    "referrer": ("String", pa.string(), ""),
    "browser": ("LowCardinality(String)", pa.string(), ""),
    "browser_version": ("LowCardinality(String)", pa.string(), ""),
    "os": ("LowCardinality(String)", pa.string(), ""),
    "os_version": ("LowCardinality(String)", pa.string(), ""),
    "device_type": ("LowCardinality(String)", pa.string(), ""),
    "country": ("LowCardinality(String)", pa.string(), ""),
    "ip": ("String", pa.string(), ""),
    "revenue": ("Nullable(Float64)", pa.float64(), None),
    "flags": ("Array(LowCardinality(String))", pa.list_(pa.string()), ()),
    "retention_days": ("UInt16", pa.uint16(), 365),
}
# `inserted_at` is not listed: ClickHouse sets it at insert time (DEFAULT now64(3)); the
# write-time duplicate filter reads recently inserted rows by it (minmax index), and when
# migration 0004 dropped the copies of an event it kept the one with the smallest value.
# Computed by ClickHouse from other columns on insert (MATERIALIZED), never sent; reads may
# name them: ``person_key`` (migration 0010) is what a segment's set of keys is compared with.
COMPUTED_EVENT_COLUMNS = ("person_key",)
REQUIRED_COLUMNS = ("project_id", "event_id", "event", "distinct_id", "person_id", "timestamp", "received_at")
ARROW_SCHEMA = pa.schema([pa.field(name, arrow_type) for name, (_, arrow_type, _) in EVENT_COLUMNS.items()])


def _epoch_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_epoch_ms(value)
    return int(value)


_TIME_COLUMNS = {name for name, (_, arrow_type, _) in EVENT_COLUMNS.items() if arrow_type == _MS}


def events_to_arrow(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Build the columnar batch the store inserts. Raises KeyError for a missing required key."""
    columns: dict[str, list[Any]] = {}
    for name, (_, _, default) in EVENT_COLUMNS.items():
        values = [row[name] for row in rows] if name in REQUIRED_COLUMNS else [row.get(name, default) for row in rows]
        if name in _TIME_COLUMNS:
            values = [_epoch_ms(value) for value in values]
        elif name == "event_id" or name == "person_id":
            values = [str(value) for value in values]
        elif name == "properties":
            values = [value if isinstance(value, str) else orjson.dumps(value).decode() for value in values]
        elif name == "flags":
            values = [list(value) if value else [] for value in values]
        columns[name] = values
    return pa.Table.from_pydict(columns, schema=ARROW_SCHEMA)
