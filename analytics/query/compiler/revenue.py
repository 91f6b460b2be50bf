"""Revenue: the sum of a numeric property per bucket, paying persons, and revenue per paying person.

Over the matching events (event name and filters, when given) whose property is a number
(the numeric view of ``compiler.filters``: ``$revenue`` reads its typed column; other
events are left out):

- revenue: the sum of the property;
- paying persons: distinct persons with at least one event whose value is > 0;
- revenue per paying person: revenue / paying persons (null when there are none).

Per bucket (``BUCKETS`` of ``compiler.trends``, in the project's zone) with a total row
over the whole range (``bucket`` NULL, from ``ROLLUP``: paying persons of the total are
distinct over the range, not summed). With a breakdown property, per value of it over the
whole range: the top ``limit`` values by revenue (ties by value) and one "other" row
(``is_top = 0``) for the rest; an unset value is ``''``.
"""

from __future__ import annotations

from datetime import datetime

from analytics.query.compiler.filters import property_views
from analytics.query.compiler.params import Params
from analytics.query.compiler.preset_scope import query_settings, scope_where
from analytics.query.compiler.trends import BUCKETS
from analytics.query.model import Filter
from analytics.warehouse.guard import Query


def _scope(
    params: Params, *, start: datetime, end: datetime, event: str | None, filters: Filter | None, prop: str
) -> tuple[str, str]:
    where = scope_where(params, start=start, end=end, event=event, filters=filters)
    number = property_views(prop, params).number
    return f"{where} AND isNotNull({number})", f"assumeNotNull({number})"


def compile_revenue(
    *,
    project_id: int,
    time_zone: str,
    start: datetime,
    end: datetime,
    interval: str,
    prop: str,
    event: str | None,
    filters: Filter | None,
) -> Query:
    """Rows ``(bucket: epoch seconds | NULL for the total, revenue, paying)``."""
    params = Params(project_id=project_id, tz=time_zone)
    where, number = _scope(params, start=start, end=end, event=event, filters=filters, prop=prop)
    sql = (
        "SELECT bucket, sum(x) AS revenue, uniqExactIf(person_id, x > 0) AS paying FROM ("
        f"SELECT {BUCKETS[interval]} AS bucket, person_id, {number} AS x FROM events WHERE {where}"
        ") GROUP BY ROLLUP(bucket) ORDER BY bucket"
    )
    return Query(name="presets.revenue", sql=sql, params=params.values, settings=query_settings())


def compile_revenue_breakdown(
    *,
    project_id: int,
    start: datetime,
    end: datetime,
    prop: str,
    breakdown: str,
    limit: int,
    event: str | None,
    filters: Filter | None,
) -> Query:
    """Rows ``(is_top, value, revenue, paying)``: the top values, then "other" (``is_top = 0``)."""
    params = Params(project_id=project_id)
    where, number = _scope(params, start=start, end=end, event=event, filters=filters, prop=prop)
    value = f"ifNull({property_views(breakdown, params).text}, '')"
    top = (
        f"SELECT {value} AS top FROM events WHERE {where}"
        f" GROUP BY top ORDER BY sum({number}) DESC, top LIMIT {params.add(limit, 'UInt32')}"
    )
    sql = (
        "SELECT is_top, if(is_top, raw, '') AS value, sum(x) AS revenue, uniqExactIf(person_id, x > 0) AS paying"
        f" FROM (SELECT {value} AS raw, raw IN ({top}) AS is_top, person_id, {number} AS x FROM events WHERE {where})"
        " GROUP BY is_top, value ORDER BY is_top DESC, revenue DESC, value"
    )
    return Query(name="presets.revenue_breakdown", sql=sql, params=params.values, settings=query_settings())
