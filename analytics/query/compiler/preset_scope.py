"""The WHERE clause shared by the preset compilers: project, time range, event name, filters.

Every value is a typed parameter (``compiler.params``); the filters are compiled by
``compiler.filters`` (event properties, nested AND/OR groups).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from analytics.query.compiler.filters import filter_sql
from analytics.query.compiler.params import Params
from analytics.query.model import Filter

# Local calendar buckets as ClickHouse ``Date`` values in the project's zone ({tz:String}).
DATE_BUCKETS = {
    "day": "toDate(timestamp, {tz:String})",
    "week": "toMonday(timestamp, {tz:String})",
    "month": "toStartOfMonth(timestamp, {tz:String})",
}


def query_settings() -> dict[str, int]:
    return {"group_by_use_nulls": 1, "max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT}


def scope_where(
    params: Params,
    *,
    start: datetime | None,
    end: datetime,
    event: str | None,
    filters: Filter | None,
    start_name: str = "start",
) -> str:
    """``project_id = .. AND timestamp in [start, end) AND event = .. AND <filters>``.

    ``params`` must hold ``project_id``; the bounds are added under ``start_name``/``end``.
    ``start=None`` means no lower bound (all of the project's history before ``end``).
    """
    parts = ["project_id = {project_id:UInt64}", "timestamp < {end:DateTime64(3, 'UTC')}"]
    params.values["end"] = end
    if start is not None:
        params.values[start_name] = start
        parts.append("timestamp >= {" + start_name + ":DateTime64(3, 'UTC')}")
    if event is not None:
        parts.append(f"event = {params.add(event, 'String')}")
    if filters is not None:
        parts.append(filter_sql(filters, params))
    return " AND ".join(parts)
