"""SQL of the web statistics (``analytics/query/web.py`` states their meaning).

All three read the pageviews (``event = '$pageview'``) of ``[start, end)`` that match the
event filters ("matching pageviews"); the summary and the session dimensions also cut the
range's sessions (``compiler/sessions.py``) and keep those with a matching pageview.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from analytics.query.compiler.filters import filter_sql
from analytics.query.compiler.params import Params
from analytics.query.compiler.sessions import PAGEVIEW, SCOPE, SessionRules, sessions_sql
from analytics.query.compiler.trends import BUCKETS
from analytics.query.model import Filter
from analytics.warehouse.guard import Query

# The path of a URL, without scheme, host, query and fragment ("/" when empty); a relative
# URL keeps its path. RE2 syntax, our constant, passed as a parameter like any value.
PAGE_PATTERN = r"^(?:[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*)?([^?#]*)"
EVENT_DIMENSIONS = ("page",)
# Dimension -> expression over a session row of ``sessions_sql`` (NULL: not set).
SESSION_DIMENSIONS = {
    "entry_page": "entry_url",
    "exit_page": "exit_url",
    "referrer": "nullIf(domainWithoutWWW(referrer), '')",
    "utm_source": "nullIf(utm_source, '')",
    "utm_medium": "nullIf(utm_medium, '')",
    "utm_campaign": "nullIf(utm_campaign, '')",
    "country": "nullIf(country, '')",
    "browser": "nullIf(browser, '')",
    "os": "nullIf(os, '')",
    "device_type": "nullIf(device_type, '')",
}
# Dimension -> the entry attributes its expression reads.
SESSION_ATTRIBUTES = {dimension: (dimension,) for dimension in SESSION_DIMENSIONS} | {
    "entry_page": (),
    "exit_page": (),
}
DIMENSIONS = (*EVENT_DIMENSIONS, *SESSION_DIMENSIONS)
_ORDER = "ORDER BY visitors DESC, pageviews DESC, value ASC NULLS LAST"


def _settings() -> dict[str, int]:
    return {"max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT}


def _page(url: str, params: Params) -> str:
    pattern = params.add(PAGE_PATTERN, "String")
    return f"if({url} = '', NULL, coalesce(nullIf(extract({url}, {pattern}), ''), '/'))"


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
        inner = f"SELECT {_page('url', params)} AS value, person_id FROM events WHERE {SCOPE} AND {matching}"
        sql = f"SELECT value, uniqExact(person_id) AS visitors, count() AS pageviews FROM ({inner}) GROUP BY value"
    else:
        expression = SESSION_DIMENSIONS[dimension]
        if dimension in ("entry_page", "exit_page"):
            expression = _page(expression, params)
        sessions = sessions_sql(params, rules, counts={"matched": matching}, attributes=SESSION_ATTRIBUTES[dimension])
        inner = f"SELECT {expression} AS value, person_id, matched FROM ({sessions}) WHERE matched > 0"
        sql = (
            "SELECT value, uniqExact(person_id) AS visitors, sum(matched) AS pageviews, count() AS sessions"
            f" FROM ({inner}) GROUP BY value"
        )
    sql += f" {_ORDER} LIMIT {params.add(limit, 'UInt32')}"
    return Query(name=f"web.breakdown.{dimension}", sql=sql, params=params.values, settings=_settings())


def timeseries_query(
    *, project_id: int, time_zone: str, start: datetime, end: datetime, interval: str, filters: Filter | None
) -> Query:
    params = Params(project_id=project_id, start=start, end=end, tz=time_zone)
    matching = _matching(params, filters)
    sql = (
        "SELECT bucket, uniqExact(person_id) AS visitors, count() AS pageviews FROM ("
        f"SELECT {BUCKETS[interval]} AS bucket, person_id FROM events WHERE {SCOPE} AND {matching}"
        ") GROUP BY bucket ORDER BY bucket"
    )
    return Query(name="web.timeseries", sql=sql, params=params.values, settings=_settings())
