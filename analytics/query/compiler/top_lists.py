"""Top lists: events by name, pages by URL path, referrers by domain, over ``[start, end)``.

Each row is a value with its event count and its distinct persons, most events first (ties
by value), at most ``limit`` rows, plus one total row (``value`` NULL) over every matching
event:

- ``top_events``: the event name;
- ``top_pages``: the path of ``$current_url`` (ClickHouse ``path``: no query string or
  fragment; an empty path is ``/``), events without a URL left out;
- ``top_referrers``: the lower-cased host of ``$referrer`` (ClickHouse ``domain``; a port
  is dropped); an event without a referrer, or one without a host, counts as ``$direct``.

``top_pages`` and ``top_referrers`` read ``$pageview`` events unless another event is given.
"""

from __future__ import annotations

from datetime import datetime

from analytics.query.compiler.params import Params
from analytics.query.compiler.preset_scope import query_settings, scope_where
from analytics.query.model import Filter
from analytics.warehouse.guard import Query

DIRECT = "$direct"
_VALUES = {
    "top_events": ("event", None),
    "top_pages": ("if(path(url) = '', '/', path(url))", "url != ''"),
    "top_referrers": (f"if(domain(referrer) = '', '{DIRECT}', lower(domain(referrer)))", None),
}
TOP_KINDS = tuple(_VALUES)


def compile_top(
    *,
    kind: str,
    project_id: int,
    start: datetime,
    end: datetime,
    event: str | None,
    filters: Filter | None,
    limit: int,
) -> Query:
    """Rows ``(value, event_count, person_count)``; the total row has ``value`` NULL and comes first."""
    params = Params(project_id=project_id)
    where = scope_where(params, start=start, end=end, event=event, filters=filters)
    value, condition = _VALUES[kind]
    if condition is not None:
        where = f"{where} AND {condition}"
    rows = params.add(limit + 1, "UInt32")
    sql = (
        f"SELECT {value} AS value, count() AS event_count, uniqExact(person_id) AS person_count FROM events WHERE {where}"
        f" GROUP BY GROUPING SETS ((value), ()) ORDER BY isNull(value) DESC, event_count DESC, value LIMIT {rows}"
    )
    return Query(name=f"presets.{kind}", sql=sql, params=params.values, settings=query_settings())
