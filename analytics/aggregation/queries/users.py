"""ClickHouse SQL for the per-user detail view (telecom example domain and any other).

A user's events page by page (newest first, keyset cursor on (timestamp, event_id)),
and the user's totals per event type by local day and by local month.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from analytics.aggregation.queries.rollups import TYPED_MEASURE_COLUMNS, measures_params
from analytics.core.timeutils import to_epoch_ms
from analytics.warehouse.guard import Query, validate_identifier

# Output name -> column of user_events_query (aliases differ from the columns, which the
# WHERE and ORDER BY use in their typed form).
EVENT_FIELDS = {
    "event_id": "event_id_text",
    "event": "event",
    "timestamp": "timestamp_ms",
    "properties": "properties",
    "revenue": "revenue",
    "session_id": "session_id",
    "person_id": "person_id_text",
}


def user_events_query(
    *, project_id: int, distinct_id: str, limit: int, before: tuple[datetime, str] | None = None
) -> Query:
    """Up to ``limit`` events of one user, newest first, older than the ``before`` cursor
    (timestamp, event_id). Columns: the values of EVENT_FIELDS; time as epoch ms."""
    params: dict[str, object] = {"project_id": int(project_id), "distinct_id": distinct_id, "limit": int(limit)}
    cursor = ""
    if before is not None:
        params["before_ms"] = to_epoch_ms(before[0])
        params["before_id"] = before[1]
        cursor = " AND (timestamp, event_id) < (fromUnixTimestamp64Milli({before_ms:Int64}, 'UTC'), {before_id:UUID})"
    sql = f"""
SELECT toString(event_id) AS event_id_text, event, toUnixTimestamp64Milli(timestamp) AS timestamp_ms,
       properties, revenue, session_id, toString(person_id) AS person_id_text
FROM events
WHERE project_id = {{project_id:UInt64}} AND distinct_id = {{distinct_id:String}}{cursor}
ORDER BY timestamp DESC, event_id DESC
LIMIT {{limit:UInt32}}
"""
    return Query(name="aggregation.user_events", sql=sql, params=params)


def _sum_sql(index: int, measure: str) -> str:
    validate_identifier(measure)
    column = TYPED_MEASURE_COLUMNS.get(measure)
    value = column if column else f"JSONExtract(properties, {{measure_{index}:String}}, 'Nullable(Float64)')"
    return f"sum({value}) AS sum_{index}"


def user_totals_query(
    *, project_id: int, distinct_id: str, tz_name: str, period: str, measures: Sequence[str]
) -> Query:
    """Totals of one user per event type and local ``period`` ("day" or "month").
    Columns: period (Date), event, count, sum_0..sum_n (one per measure, NULL if absent)."""
    period_sql = "toStartOfMonth(timestamp, {tz:String})" if period == "month" else "toDate(timestamp, {tz:String})"
    sums = "".join(", " + _sum_sql(index, measure) for index, measure in enumerate(measures))
    sql = f"""
SELECT {period_sql} AS period, event, count() AS count{sums}
FROM events
WHERE project_id = {{project_id:UInt64}} AND distinct_id = {{distinct_id:String}}
GROUP BY period, event
ORDER BY period, event
"""
    return Query(
        name=f"aggregation.user_totals.{period}",
        sql=sql,
        params={"project_id": int(project_id), "distinct_id": distinct_id, "tz": tz_name, **measures_params(measures)},
    )
