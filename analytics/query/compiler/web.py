"""SQL of the web statistics (``analytics/query/web.py`` states their meaning).

All three read the pageviews (``event = '$pageview'``) of ``[start, end)`` that match the
event filters ("matching pageviews"); the summary and the session dimensions also cut the
range's sessions (``compiler/sessions.py``) and keep those with a matching pageview.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.conf import settings

from analytics.query.compiler.filters import DERIVED_TEXT, filter_sql
from analytics.query.compiler.params import Params
from analytics.query.compiler.sessions import PAGEVIEW, SCOPE, SessionRules, sessions_sql
from analytics.query.compiler.trends import BUCKETS
from analytics.query.model import Filter
from analytics.warehouse.guard import Query

EVENT_DIMENSIONS = ("page",)
# Dimension -> the filter key with the same values (compiler/filters.py), so that a row of a
# breakdown becomes a filter: ``{"key": FILTER_KEYS[dimension], "operator": "eq", "value": v}``.
FILTER_KEYS = {
    "page": "$pathname",
    "entry_page": "$pathname",
    "exit_page": "$pathname",
    "referrer": "$referring_domain",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "country": "$country",
    "browser": "$browser",
    "os": "$os",
    "device_type": "$device_type",
}


def _path_of(column: str) -> str:
    """``$pathname`` (compiler/filters.py) of a URL column other than ``url``, NULL when empty."""
    template = DERIVED_TEXT["$pathname"]
    assert template.count("url") == 1, template
    return f"nullIf({template.replace('url', column)}, '')"


_PATH = _path_of("url")
# Session dimension -> (expression over a row of ``sessions_sql``, the entry attributes it reads).
SESSION_DIMENSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "entry_page": (_path_of("entry_url"), ()),
    "exit_page": (_path_of("exit_url"), ()),
    "referrer": (f"nullIf({DERIVED_TEXT['$referring_domain']}, '')", ("referrer",)),
    **{name: (f"nullIf({name}, '')", (name,)) for name in ("utm_source", "utm_medium", "utm_campaign")},
    **{name: (f"nullIf({name}, '')", (name,)) for name in ("country", "browser", "os", "device_type")},
}
DIMENSIONS = (*EVENT_DIMENSIONS, *SESSION_DIMENSIONS)
_ORDER = "ORDER BY visitors DESC, pageviews DESC, value ASC NULLS LAST"


def _settings() -> dict[str, int]:
    return {"max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT}


def _matching(params: Params, filters: Filter | None) -> str:
    """A matching pageview, as a boolean over an event's columns."""
    condition = f"event = {params.add(PAGEVIEW, 'String')}"
    if filters is not None:
        condition += f" AND {filter_sql(filters, params)}"
    return f"({condition})"


def summary_query(
    *, project_id: int, rules: SessionRules, start: datetime, end: datetime, filters: Filter | None
) -> Query:
    params = Params(project_id=project_id, start=start, end=end)
    matching = _matching(params, filters)
    sessions = sessions_sql(params, rules, counts={"matched": matching}, attributes=())
    sql = (
        f"SELECT (SELECT uniqExact(person_id) FROM events WHERE {SCOPE} AND {matching}) AS visitors,"
        " sum(matched) AS pageviews, count() AS sessions, countIf(is_bounce) AS bounces,"
        " sum(duration_seconds) AS duration_seconds"
        f" FROM ({sessions}) WHERE matched > 0"
    )
    return Query(name="web.summary", sql=sql, params=params.values, settings=_settings())


def page_breakdown_query(
    *, project_id: int, start: datetime, end: datetime, filters: Filter | None, limit: int
) -> Query:
    """The top pages (``$pathname``) of the matching pageviews."""
    params = Params(project_id=project_id, start=start, end=end)
    inner = f"SELECT {_PATH} AS value, person_id FROM events WHERE {SCOPE} AND {_matching(params, filters)}"
    sql = (
        f"SELECT value, uniqExact(person_id) AS visitors, count() AS pageviews FROM ({inner})"
        f" GROUP BY value {_ORDER} LIMIT {params.add(limit, 'UInt32')}"
    )
    return Query(name="web.breakdown.page", sql=sql, params=params.values, settings=_settings())


def session_breakdowns_query(
    *,
    project_id: int,
    rules: SessionRules,
    start: datetime,
    end: datetime,
    dimensions: Sequence[str],
    filters: Filter | None,
    limit: int,
) -> Query:
    """The top values of several session dimensions from one cut of the sessions.

    Each kept session yields one ``(dimension index, value)`` pair per dimension; rows are
    ``(dimension, value, visitors, pageviews, sessions)``, the first ``limit`` per dimension.
    """
    params = Params(project_id=project_id, start=start, end=end)
    matching = _matching(params, filters)
    attributes = tuple(sorted({name for dimension in dimensions for name in SESSION_DIMENSIONS[dimension][1]}))
    sessions = sessions_sql(params, rules, counts={"matched": matching}, attributes=attributes)
    pairs = ", ".join(
        f"tuple(toUInt8({index}), CAST({SESSION_DIMENSIONS[dimension][0]} AS Nullable(String)))"
        for index, dimension in enumerate(dimensions)
    )
    inner = f"SELECT person_id, matched, arrayJoin([{pairs}]) AS pair FROM ({sessions}) WHERE matched > 0"
    sql = (
        "SELECT tupleElement(pair, 1) AS dimension, tupleElement(pair, 2) AS value,"
        " uniqExact(person_id) AS visitors, sum(matched) AS pageviews, count() AS sessions"
        f" FROM ({inner}) GROUP BY dimension, value"
        f" ORDER BY dimension, visitors DESC, pageviews DESC, value ASC NULLS LAST"
        f" LIMIT {params.add(limit, 'UInt32')} BY dimension"
    )
    return Query(name="web.breakdown.sessions", sql=sql, params=params.values, settings=_settings())


def timeseries_query(
    *, project_id: int, rules: SessionRules, start: datetime, end: datetime, interval: str, filters: Filter | None
) -> Query:
    """Per bucket: visitors and pageviews of the bucket's matching pageviews (``kind = 0``
    rows), and the sessions that start in the bucket (``kind = 1`` rows)."""
    params = Params(project_id=project_id, start=start, end=end, tz=rules.time_zone)
    matching = _matching(params, filters)
    sessions = sessions_sql(params, rules, counts={"matched": matching}, attributes=())
    bucket = BUCKETS[interval]  # over a column named ``timestamp``
    pageviews = (
        "SELECT 0 AS kind, bucket, uniqExact(person_id) AS visitors, count() AS pageviews,"
        " 0 AS sessions, 0 AS bounces, 0 AS duration_seconds FROM ("
        f"SELECT {bucket} AS bucket, person_id FROM events WHERE {SCOPE} AND {matching}"
        ") GROUP BY bucket"
    )
    visits = (
        "SELECT 1 AS kind, bucket, 0 AS visitors, 0 AS pageviews, count() AS sessions,"
        " countIf(is_bounce) AS bounces, sum(duration_seconds) AS duration_seconds FROM ("
        f"SELECT {bucket} AS bucket, is_bounce, duration_seconds FROM ("
        f"SELECT session_start AS timestamp, is_bounce, duration_seconds FROM ({sessions}) WHERE matched > 0)"
        ") GROUP BY bucket"
    )
    sql = f"SELECT * FROM ({pageviews} UNION ALL {visits}) ORDER BY bucket, kind"
    return Query(name="web.timeseries", sql=sql, params=params.values, settings=_settings())
