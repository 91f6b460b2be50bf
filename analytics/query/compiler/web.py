"""SQL of the web statistics (``analytics/query/web.py`` states their meaning).

All three read the pageviews (``event = '$pageview'``) of ``[start, end)`` that match the
event filters ("matching pageviews"); the summary and the session dimensions also cut the
range's sessions (``compiler/sessions.py``) and keep those with a matching pageview.
"""

from __future__ import annotations

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
_PATH = f"nullIf({DERIVED_TEXT['$pathname']}, '')"  # over a column named ``url``
# Session dimension -> (expression over the session row, the entry attributes it reads); the
# page dimensions rename entry_url/exit_url to ``url`` first.
SESSION_DIMENSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "entry_page": (_PATH, ()),
    "exit_page": (_PATH, ()),
    "referrer": (f"nullIf({DERIVED_TEXT['$referring_domain']}, '')", ("referrer",)),
    **{name: (f"nullIf({name}, '')", (name,)) for name in ("utm_source", "utm_medium", "utm_campaign")},
    **{name: (f"nullIf({name}, '')", (name,)) for name in ("country", "browser", "os", "device_type")},
}
DIMENSIONS = (*EVENT_DIMENSIONS, *SESSION_DIMENSIONS)
_ORDER = "ORDER BY visitors DESC, pageviews DESC, value ASC NULLS LAST"
_SESSION_URL = {"entry_page": "entry_url", "exit_page": "exit_url"}


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


def breakdown_query(
    *,
    project_id: int,
    rules: SessionRules,
    start: object,
    end: object,
    dimension: str,
    filters: Filter | None,
    limit: int,
) -> Query:
    params = Params(project_id=project_id, start=start, end=end)
    matching = _matching(params, filters)
    if dimension == "page":
        inner = f"SELECT {_PATH} AS value, person_id FROM events WHERE {SCOPE} AND {matching}"
        sql = f"SELECT value, uniqExact(person_id) AS visitors, count() AS pageviews FROM ({inner}) GROUP BY value"
    else:
        expression, attributes = SESSION_DIMENSIONS[dimension]
        sessions = sessions_sql(params, rules, counts={"matched": matching}, attributes=attributes)
        if dimension in _SESSION_URL:
            sessions = f"SELECT person_id, matched, {_SESSION_URL[dimension]} AS url FROM ({sessions})"
        inner = f"SELECT {expression} AS value, person_id, matched FROM ({sessions}) WHERE matched > 0"
        sql = (
            "SELECT value, uniqExact(person_id) AS visitors, sum(matched) AS pageviews, count() AS sessions"
            f" FROM ({inner}) GROUP BY value"
        )
    sql += f" {_ORDER} LIMIT {params.add(limit, 'UInt32')}"
    return Query(name=f"web.breakdown.{dimension}", sql=sql, params=params.values, settings=_settings())


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
