"""Active users: DAU, WAU, MAU and the stickiness ratio DAU/MAU for each local day of a range.

For a local day ``d`` of the project's zone, over the events that match (event name and
filters, when given):

- DAU: distinct persons with an event on ``d``;
- WAU: distinct persons with an event on any of the 7 local days ``d-6 .. d``;
- MAU: distinct persons with an event on any of the 30 local days ``d-29 .. d``;
- stickiness: DAU / MAU (null when MAU is 0).

Windows count whole local days, including days before the range's first day. One pass:
the distinct (person, day) pairs of ``[first day - 29, last day]`` are each spread over the
30 days whose window holds them (``ARRAY JOIN range(30)``), then counted per target day
with ``uniqExactIf`` on the distance in days.
"""

from __future__ import annotations

from datetime import date, datetime

from analytics.query.compiler.params import Params
from analytics.query.compiler.preset_scope import query_settings, scope_where
from analytics.query.model import Filter
from analytics.warehouse.guard import Query

MONTH_DAYS = 30
WEEK_DAYS = 7


def compile_active_users(
    *,
    project_id: int,
    time_zone: str,
    scan_start: datetime,
    scan_end: datetime,
    first_day: date,
    last_day: date,
    event: str | None,
    filters: Filter | None,
) -> Query:
    """Rows ``(day: Date, dau, wau, mau)`` for the days with any activity in their window."""
    params = Params(project_id=project_id, tz=time_zone, first_day=first_day, last_day=last_day)
    where = scope_where(params, start=scan_start, end=scan_end, event=event, filters=filters)
    sql = (
        "SELECT addDays(day, offset) AS target,"
        f" uniqExactIf(person_id, offset = 0) AS dau, uniqExactIf(person_id, offset < {WEEK_DAYS}) AS wau,"
        " uniqExact(person_id) AS mau"
        f" FROM (SELECT person_id, toDate(timestamp, {{tz:String}}) AS day FROM events WHERE {where}"
        " GROUP BY person_id, day)"
        f" ARRAY JOIN range({MONTH_DAYS}) AS offset"
        " WHERE target >= {first_day:Date} AND target <= {last_day:Date}"
        " GROUP BY target ORDER BY target"
    )
    return Query(name="presets.active_users", sql=sql, params=params.values, settings=query_settings())
