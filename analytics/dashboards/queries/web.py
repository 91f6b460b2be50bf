"""Web statistics for the web-analytics page (interim: until ``analytics.query.web`` lands,
with the same function names and arguments, so the page switches by changing one import).

Rules, in the project's range ``[date_from, date_to)``:

- a **pageview** is an event named ``$pageview`` or ``page_view``; its page is the URL's
  path (``path(url)``);
- a **session** is the events of one client-sent ``session_id``; events without one are
  split per person where the gap to the previous event exceeds the project's session
  timeout (30 minutes by default). Its **entry page** and **exit page** are the paths of its
  first and last pageview; its source (referrer domain without ``www.``, UTM parameters
  from the URL or from properties), country, browser, OS and device are its first event's;
- only sessions with at least one pageview count (visits); **visitors** are their distinct
  persons; **bounce rate** is the share of sessions with at most
  one pageview that lasted under 10 seconds; **visit duration** is the average of last
  minus first event time; **views per visit** is pageviews per session;
- **filters** are ``(dimension, value)`` pairs, all of which must hold: a page filter keeps
  the sessions that viewed that page (and, for the pages card, only that page's views);
  every other dimension keeps the sessions whose value it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from analytics.accounts.models import Project
from analytics.query.compiler.params import Params
from analytics.query.model import DateRange
from analytics.query.timerange import iter_buckets
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store

PAGEVIEWS = ("$pageview", "page_view")
DIMENSIONS: dict[str, str] = {
    "page": "Pages",
    "entry_page": "Entry pages",
    "exit_page": "Exit pages",
    "referrer": "Referrers",
    "utm_source": "UTM sources",
    "utm_medium": "UTM mediums",
    "utm_campaign": "UTM campaigns",
    "country": "Countries",
    "browser": "Browsers",
    "os": "Operating systems",
    "device_type": "Devices",
}
# Session-level columns by dimension (our own constants; never user text).
_SESSION_COLUMN = {
    "entry_page": "entry_page",
    "exit_page": "exit_page",
    "referrer": "referrer",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "country": "country",
    "browser": "browser",
    "os": "os",
    "device_type": "device_type",
}
_UTM = "if(extractURLParameter(url, '{name}') != '', extractURLParameter(url, '{name}'), JSONExtractString(properties, '{name}'))"
_BUCKETS = {
    "hour": "toStartOfHour(timestamp, {tz:String})",
    "day": "toStartOfDay(timestamp, {tz:String})",
    "week": "toMonday(timestamp, {tz:String})",
    "month": "toStartOfMonth(timestamp, {tz:String})",
}

Filters = list[tuple[str, str]]


def _timeout_seconds(project: Project) -> int:
    return max(1, int(getattr(project, "session_timeout_minutes", 30) or 30)) * 60


def _events_sql() -> str:
    """Events of the range with their session key and page path."""
    return (
        "SELECT person_id, timestamp, event, event IN {pageviews:Array(String)} AS is_pageview,"
        " path(url) AS page, referrer, country, browser, os, device_type,"
        f" {_UTM.format(name='utm_source')} AS utm_source, {_UTM.format(name='utm_medium')} AS utm_medium,"
        f" {_UTM.format(name='utm_campaign')} AS utm_campaign,"
        " if(session_id != '', concat('s:', session_id), concat('p:', toString(person_id), ':',"
        " toString(sum(starts) OVER (PARTITION BY person_id ORDER BY timestamp"
        " ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)))) AS session_key FROM ("
        " SELECT *, if(dateDiff('second', lagInFrame(timestamp, 1, timestamp) OVER (PARTITION BY person_id"
        " ORDER BY timestamp ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), timestamp) > {gap:UInt32}, 1, 0) AS starts"
        " FROM events WHERE project_id = {project_id:UInt64}"
        " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')})"
    )


def _sessions_sql(filters: Filters, params: Params) -> str:
    having = ["session_pageviews > 0"]  # a visit is a session with a pageview
    for dimension, value in filters:
        placeholder = params.add(value, "String")
        if dimension == "page":
            having.append(f"has(pages, {placeholder})")
        elif dimension in _SESSION_COLUMN:
            having.append(f"{_SESSION_COLUMN[dimension]} = {placeholder}")
    return (
        "SELECT session_key, any(person_id) AS person, min(timestamp) AS started, max(timestamp) AS ended,"
        " dateDiff('second', started, ended) AS seconds, countIf(is_pageview) AS session_pageviews,"
        " argMinIf(page, timestamp, is_pageview) AS entry_page, argMaxIf(page, timestamp, is_pageview) AS exit_page,"
        " groupUniqArrayIf(page, is_pageview) AS pages,"
        " argMin(if(domainWithoutWWW(referrer) != '', domainWithoutWWW(referrer), ''), timestamp) AS referrer,"
        " argMin(utm_source, timestamp) AS utm_source, argMin(utm_medium, timestamp) AS utm_medium,"
        " argMin(utm_campaign, timestamp) AS utm_campaign, argMin(country, timestamp) AS country,"
        " argMin(browser, timestamp) AS browser, argMin(os, timestamp) AS os,"
        " argMin(device_type, timestamp) AS device_type FROM tagged GROUP BY session_key"
        + " HAVING "
        + " AND ".join(having)
    )


def _params(project: Project, date_from: datetime, date_to: datetime) -> Params:
    return Params(
        project_id=project.id,
        start=date_from,
        end=date_to,
        gap=_timeout_seconds(project),
        pageviews=list(PAGEVIEWS),
        tz=project.timezone,
    )


def _run(name: str, sql: str, params: Params) -> list[dict[str, Any]]:
    return get_store().query(Query(name=f"dashboards.web.{name}", sql=sql, params=params.values)).dicts()


def _summary(project: Project, date_from: datetime, date_to: datetime, filters: Filters) -> dict[str, Any]:
    params = _params(project, date_from, date_to)
    sql = (
        f"WITH tagged AS ({_events_sql()}), sessions AS ({_sessions_sql(filters, params)})"
        " SELECT uniq(person) AS visitors, sum(session_pageviews) AS pageviews, count() AS sessions,"
        " countIf(session_pageviews <= 1 AND seconds < 10) AS bounces, avg(seconds) AS avg_seconds FROM sessions"
    )
    row = _run("summary", sql, params)[0]
    sessions = int(row["sessions"])
    pageviews = int(row["pageviews"] or 0)
    return {
        "visitors": int(row["visitors"]),
        "pageviews": pageviews,
        "sessions": sessions,
        "bounce_rate": int(row["bounces"]) / sessions if sessions else 0.0,
        "avg_visit_seconds": float(row["avg_seconds"]) if sessions else 0.0,
        "views_per_visit": pageviews / sessions if sessions else 0.0,
    }


def web_summary(
    *, project: Project, date_from: datetime, date_to: datetime, filters: Filters | None = None, compare: bool = False
) -> dict[str, Any]:
    current = _summary(project, date_from, date_to, filters or [])
    if not compare:
        return current
    previous = _summary(project, date_from - (date_to - date_from), date_from, filters or [])
    return {"current": current, "previous": previous}


def web_breakdown(
    *,
    project: Project,
    date_from: datetime,
    date_to: datetime,
    dimension: str,
    filters: Filters | None = None,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """Rows ``{"value", "visitors", "pageviews"}``, most visitors first."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}")
    params = _params(project, date_from, date_to)
    sessions = _sessions_sql(filters or [], params)
    page_filters = [params.add(value, "String") for name, value in filters or [] if name == "page"]
    if dimension == "page":
        only = "".join(f" AND page = {placeholder}" for placeholder in page_filters)
        select = (
            "SELECT page AS value, uniq(person_id) AS visitors, count() AS pageviews FROM tagged"
            f" WHERE is_pageview AND session_key IN (SELECT session_key FROM sessions){only} GROUP BY value"
        )
    else:
        column = _SESSION_COLUMN[dimension]
        select = f"SELECT {column} AS value, uniq(person) AS visitors, sum(session_pageviews) AS pageviews FROM sessions GROUP BY value"
    sql = (
        f"WITH tagged AS ({_events_sql()}), sessions AS ({sessions}) {select}"
        " ORDER BY visitors DESC, pageviews DESC, value LIMIT {limit:UInt32}"
    )
    params.values["limit"] = limit
    return [
        {"value": row["value"], "visitors": int(row["visitors"]), "pageviews": int(row["pageviews"])}
        for row in _run(f"breakdown.{dimension}", sql, params)
    ]


def web_timeseries(
    *,
    project: Project,
    date_from: datetime,
    date_to: datetime,
    interval: str,
    filters: Filters | None = None,
) -> list[dict[str, Any]]:
    """``[{"bucket": epoch ms of the bucket start, "visitors", "pageviews"}]``, empty buckets 0."""
    params = _params(project, date_from, date_to)
    bucket = _BUCKETS[interval]
    sql = (
        f"WITH tagged AS ({_events_sql()}), sessions AS ({_sessions_sql(filters or [], params)})"
        f" SELECT toUnixTimestamp({bucket}) AS bucket, uniq(person_id) AS visitors, countIf(is_pageview) AS pageviews"
        " FROM tagged WHERE session_key IN (SELECT session_key FROM sessions) GROUP BY bucket"
    )
    found = {int(row["bucket"]): row for row in _run(f"timeseries.{interval}", sql, params)}
    answer = []
    for start in iter_buckets(DateRange(date_from, date_to), interval, ZoneInfo(project.timezone)):
        row = found.get(int(start.timestamp()), {})
        answer.append(
            {
                "bucket": int(start.timestamp() * 1000),
                "visitors": int(row.get("visitors", 0)),
                "pageviews": int(row.get("pageviews", 0)),
            }
        )
    return answer
