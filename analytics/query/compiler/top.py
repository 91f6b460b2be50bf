"""Top values of one event key: events, distinct ids, first and last time seen per value.

``SELECT value, count(), uniqExact(distinct_id), min(timestamp), max(timestamp) FROM events
WHERE <project, range, event, filters> AND <key is set> GROUP BY value ORDER BY events DESC,
value LIMIT n``. The key is read through the same views as filters (``compiler.filters``):
the hot columns (``event``, ``distinct_id``, ...), the derived keys and JSON properties, its
name only ever a parameter.
"""

from __future__ import annotations

from django.conf import settings

from analytics.query.compiler.filters import filter_sql, property_views
from analytics.query.compiler.params import Params
from analytics.query.model import TopValuesQuery
from analytics.warehouse.guard import Query

_SCOPE = (
    "project_id = {project_id:UInt64}"
    " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
)


def compile_top_values(*, project_id: int, query: TopValuesQuery) -> Query:
    params = Params(project_id=project_id, start=query.date_range.start, end=query.date_range.end)
    view = property_views(query.key, params)
    parts = [_SCOPE, view.is_set]
    if query.event is not None:
        parts.append(f"event = {params.add(query.event, 'String')}")
    if query.filters is not None:
        parts.append(filter_sql(query.filters, params))
    limit = params.add(query.limit, "UInt32")
    sql = (
        f"SELECT assumeNotNull({view.text}) AS value, count() AS events, uniqExact(distinct_id) AS distinct_ids,"
        " toUnixTimestamp64Milli(min(timestamp)) AS first_ms, toUnixTimestamp64Milli(max(timestamp)) AS last_ms"
        f" FROM events WHERE {' AND '.join(parts)}"
        f" GROUP BY value ORDER BY events DESC, value LIMIT {limit}"
    )
    return Query(
        name="query.top_values",
        sql=sql,
        params=params.values,
        settings={"max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT},
    )
