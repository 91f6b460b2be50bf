"""Stickiness: how many persons were active on 1, 2, ... N intervals (days, weeks, months) of a range.

A person counts once, under the number of distinct local buckets (day, ISO week starting
Monday, or month, in the project's zone) in which they have at least one matching event
within ``[start, end)``. Persons without a matching event are not counted.
"""

from __future__ import annotations

from datetime import datetime

from analytics.query.compiler.params import Params
from analytics.query.compiler.preset_scope import DATE_BUCKETS, query_settings, scope_where
from analytics.query.model import Filter
from analytics.warehouse.guard import Query


def compile_stickiness(
    *,
    project_id: int,
    time_zone: str,
    start: datetime,
    end: datetime,
    interval: str,
    event: str | None,
    filters: Filter | None,
) -> Query:
    """Rows ``(active, person_count)``: persons with exactly ``active`` active buckets."""
    params = Params(project_id=project_id, tz=time_zone)
    where = scope_where(params, start=start, end=end, event=event, filters=filters)
    sql = (
        "SELECT active, count() AS person_count FROM ("
        f"SELECT person_id, uniqExact({DATE_BUCKETS[interval]}) AS active FROM events WHERE {where}"
        " GROUP BY person_id) GROUP BY active ORDER BY active"
    )
    return Query(name="presets.stickiness", sql=sql, params=params.values, settings=query_settings())
