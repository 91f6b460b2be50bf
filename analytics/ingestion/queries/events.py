"""ClickHouse SQL for the read-back endpoints: counts, by type, by user, time series.

Each builder returns a :class:`Query` scoped by project; time ranges are half-open
[start, end). The events table holds each event once (duplicates are dropped when they
are written, docs/event-store.md), so the reads are plain: no ``FINAL``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from analytics.warehouse.guard import Query

INTERVALS = {"minute": "toStartOfMinute", "hour": "toStartOfHour", "day": "toStartOfDay"}
INTERVAL_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}

_RANGE = (
    "project_id = {project_id:UInt64}"
    " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
)


def _params(project_id: int, start: datetime, end: datetime, event: str | None) -> tuple[str, dict[str, Any]]:
    params: dict[str, Any] = {"project_id": project_id, "start": start, "end": end}
    where = _RANGE
    if event:
        where += " AND event = {event:String}"
        params["event"] = event
    return where, params


def count_query(*, project_id: int, start: datetime, end: datetime, event: str | None = None) -> Query:
    """Events and distinct ids in the range."""
    where, params = _params(project_id, start, end, event)
    sql = f"SELECT count() AS events, uniqExact(distinct_id) AS distinct_ids FROM events WHERE {where}"
    return Query(name="ingestion.count", sql=sql, params=params)


def by_type_query(
    *, project_id: int, start: datetime, end: datetime, event: str | None = None, limit: int = 100
) -> Query:
    """Events per event name, most frequent first."""
    where, params = _params(project_id, start, end, event)
    params["limit"] = limit
    sql = (
        "SELECT event, count() AS events, uniqExact(distinct_id) AS distinct_ids"
        f" FROM events WHERE {where}"
        " GROUP BY event ORDER BY events DESC, event LIMIT {limit:UInt32}"
    )
    return Query(name="ingestion.by_type", sql=sql, params=params)


def by_user_query(
    *, project_id: int, start: datetime, end: datetime, event: str | None = None, limit: int = 100
) -> Query:
    """Events per distinct id, most active first."""
    where, params = _params(project_id, start, end, event)
    params["limit"] = limit
    sql = (
        "SELECT distinct_id, count() AS events,"
        " toUnixTimestamp64Milli(min(timestamp)) AS first_ms, toUnixTimestamp64Milli(max(timestamp)) AS last_ms"
        f" FROM events WHERE {where}"
        " GROUP BY distinct_id ORDER BY events DESC, distinct_id LIMIT {limit:UInt32}"
    )
    return Query(name="ingestion.by_user", sql=sql, params=params)


def timeseries_query(
    *, project_id: int, start: datetime, end: datetime, interval: str, event: str | None = None
) -> Query:
    """Events per bucket of ``interval`` (minute, hour, day; UTC), empty buckets included."""
    bucket = INTERVALS[interval]  # a fixed function name from our table, never user text
    where, params = _params(project_id, start, end, event)
    params["step"] = INTERVAL_SECONDS[interval]
    sql = (
        f"SELECT toUnixTimestamp({bucket}(timestamp)) AS bucket, count() AS events"
        f" FROM events WHERE {where}"
        " GROUP BY bucket ORDER BY bucket"
        f" WITH FILL FROM toUnixTimestamp({bucket}({{start:DateTime64(3, 'UTC')}}))"
        " TO toUnixTimestamp({end:DateTime64(3, 'UTC')}) STEP {step:UInt32}"
    )
    return Query(name="ingestion.timeseries", sql=sql, params=params)
