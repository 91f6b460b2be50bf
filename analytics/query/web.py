"""Web statistics of a project, as Plausible shows them, over a range ``[date_from, date_to)``.

Definitions (``filters`` is the query model's event filter, applied to pageviews):

- a **matching pageview** is a ``$pageview`` event of the range that matches the filters;
- **visitors**: distinct persons (``person_id``) with a matching pageview;
- **pageviews**: the number of matching pageviews;
- **sessions** (visits): the range's sessions (cut as ``compiler/sessions.py`` states,
  with the project's settings) that hold at least one matching pageview; their bounce and
  duration are those of the whole session;
- ``bounce_rate``: bounced sessions / sessions, a fraction from 0 to 1;
  ``avg_visit_seconds``: mean session duration; ``views_per_visit``: pageviews /
  sessions; all three are ``None`` when there is no session.

``web_breakdown`` ranks the values of one dimension by visitors, then pageviews, then value
(``None``, "not set", last) and returns the first ``limit`` as ``{"value", "visitors",
"pageviews"}``. Values are those of the filter key ``FILTER_KEYS[dimension]``
(``compiler/filters.py``), so a row turns into an ``eq`` filter on that key (a filter on
pageviews: for the session dimensions it keeps the sessions with such a pageview, which is
not always the same as the sessions whose entry has the value). ``page`` is per pageview:
``$pathname`` of its URL. Every other dimension is a session's, taken from its entry:
``entry_page``/``exit_page`` are ``$pathname`` of the session's entry and exit URL,
``referrer`` is ``$referring_domain`` of the entry event's referrer, ``utm_*`` the entry's
UTM keys, ``country``/``browser``/``os``/``device_type`` the entry event's; for those rows
``visitors`` are the distinct persons of the sessions, ``pageviews`` the sessions' matching
pageviews, and ``sessions`` their number.

``web_breakdowns`` answers several dimensions at once (``{dimension: rows}``); the session
dimensions then share one cut of the sessions, which a page showing many lists wants.

``web_timeseries`` gives per bucket (the buckets of the trends engine, in the project's time
zone; empty buckets are zeros and ``None`` rates): ``[{"bucket", "visitors", "pageviews",
"sessions", "bounce_rate", "avg_visit_seconds"}]``; visitors and pageviews count the
bucket's matching pageviews, the session figures the sessions that start in the bucket.
``bucket`` is ISO 8601 with the project's offset.

``filters`` may be the model (``Condition``/``Group``) or its JSON (parsed like the trends
API; a bad filter raises DRF's ``ValidationError`` under ``filters``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rest_framework import serializers

from analytics.core.errors import ApplicationError
from analytics.query.compiler.sessions import SessionRules
from analytics.query.compiler.web import (
    DIMENSIONS,
    page_breakdown_query,
    session_breakdowns_query,
    summary_query,
    timeseries_query,
)
from analytics.query.model import INTERVALS, MAX_POINTS, Condition, DateRange, Filter, Group
from analytics.query.runner import _rows as store_rows  # RE2 and timeout errors as 400s, as in trends
from analytics.query.serializers import FilterField
from analytics.query.timerange import count_buckets, iter_buckets, previous_range
from analytics.warehouse.store import EventStore, get_store

MAX_BREAKDOWN_LIMIT = 100


class WebQueryError(ApplicationError):
    """A bad argument of the web statistics, named for the API client."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", extra={"fields": {field: [message]}})


def parse_filters(filters: Any) -> Filter | None:
    """The filter model from the model itself or its JSON; raises ValidationError under ``filters``."""
    if filters is None or isinstance(filters, Condition | Group):
        return filters
    if filters == [] or filters == {}:
        return None
    try:
        return FilterField().to_internal_value(filters)
    except serializers.ValidationError as error:
        raise serializers.ValidationError({"filters": error.detail}) from None


def _check_range(date_from: datetime, date_to: datetime) -> None:
    if date_from >= date_to:
        raise WebQueryError("from", "from must be before to")


def _summary(project: Any, date_range: DateRange, filters: Filter | None, store: EventStore) -> dict[str, Any]:
    query = summary_query(
        project_id=project.id,
        rules=SessionRules.for_project(project),
        start=date_range.start,
        end=date_range.end,
        filters=filters,
    )
    row = store_rows(store, query)[0]
    sessions, pageviews = int(row["sessions"] or 0), int(row["pageviews"] or 0)
    return {
        "visitors": int(row["visitors"] or 0),
        "pageviews": pageviews,
        "sessions": sessions,
        "bounce_rate": int(row["bounces"]) / sessions if sessions else None,
        "avg_visit_seconds": float(row["duration_seconds"]) / sessions if sessions else None,
        "views_per_visit": pageviews / sessions if sessions else None,
    }


def web_summary(
    *,
    project: Any,
    date_from: datetime,
    date_to: datetime,
    filters: Any = None,
    compare: bool = False,
    store: EventStore | None = None,
) -> dict[str, Any]:
    """The headline figures; with ``compare``, ``{"current", "previous"}`` (the equal period before)."""
    _check_range(date_from, date_to)
    store = store or get_store()
    parsed = parse_filters(filters)
    current = DateRange(date_from, date_to)
    summary = _summary(project, current, parsed, store)
    if not compare:
        return summary
    previous = previous_range(current, ZoneInfo(project.timezone))
    return {"current": summary, "previous": _summary(project, previous, parsed, store)}


def web_breakdowns(
    *,
    project: Any,
    date_from: datetime,
    date_to: datetime,
    dimensions: Sequence[str],
    filters: Any = None,
    limit: int = 10,
    store: EventStore | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The top ``limit`` values of each of ``dimensions``, by dimension; the session
    dimensions share one cut of the sessions (one query for all of them)."""
    _check_range(date_from, date_to)
    unknown = [dimension for dimension in dimensions if dimension not in DIMENSIONS]
    if unknown or not dimensions:
        raise WebQueryError("dimension", f"must be one of {', '.join(DIMENSIONS)}")
    if not 1 <= limit <= MAX_BREAKDOWN_LIMIT:
        raise WebQueryError("limit", f"must be from 1 to {MAX_BREAKDOWN_LIMIT}")
    store = store or get_store()
    parsed = parse_filters(filters)
    answer: dict[str, list[dict[str, Any]]] = {dimension: [] for dimension in dimensions}
    if "page" in answer:
        query = page_breakdown_query(project_id=project.id, start=date_from, end=date_to, filters=parsed, limit=limit)
        answer["page"] = [
            {"value": row["value"], "visitors": int(row["visitors"]), "pageviews": int(row["pageviews"])}
            for row in store_rows(store, query)
        ]
    per_session = [dimension for dimension in answer if dimension != "page"]
    if per_session:
        query = session_breakdowns_query(
            project_id=project.id,
            rules=SessionRules.for_project(project),
            start=date_from,
            end=date_to,
            dimensions=per_session,
            filters=parsed,
            limit=limit,
        )
        for row in store_rows(store, query):
            answer[per_session[int(row["dimension"])]].append(
                {
                    "value": row["value"],
                    "visitors": int(row["visitors"]),
                    "pageviews": int(row["pageviews"]),
                    "sessions": int(row["sessions"]),
                }
            )
    return answer


def web_breakdown(
    *,
    project: Any,
    date_from: datetime,
    date_to: datetime,
    dimension: str,
    filters: Any = None,
    limit: int = 10,
    store: EventStore | None = None,
) -> list[dict[str, Any]]:
    """The top ``limit`` values of ``dimension`` (one of :data:`DIMENSIONS`)."""
    if dimension not in DIMENSIONS:
        raise WebQueryError("dimension", f"must be one of {', '.join(DIMENSIONS)}")
    return web_breakdowns(
        project=project,
        date_from=date_from,
        date_to=date_to,
        dimensions=[dimension],
        filters=filters,
        limit=limit,
        store=store,
    )[dimension]


def web_timeseries(
    *,
    project: Any,
    date_from: datetime,
    date_to: datetime,
    interval: str = "day",
    filters: Any = None,
    store: EventStore | None = None,
) -> list[dict[str, Any]]:
    """Visitors and pageviews per bucket of ``interval`` (minute, hour, day, week, month)."""
    _check_range(date_from, date_to)
    if interval not in INTERVALS:
        raise WebQueryError("interval", f"must be one of {', '.join(INTERVALS)}")
    zone = ZoneInfo(project.timezone)
    date_range = DateRange(date_from, date_to)
    if count_buckets(date_range, interval, zone, stop_after=MAX_POINTS) > MAX_POINTS:
        raise WebQueryError("interval", f"more than {MAX_POINTS} buckets; choose a longer interval")
    query = timeseries_query(
        project_id=project.id,
        rules=SessionRules.for_project(project),
        start=date_from,
        end=date_to,
        interval=interval,
        filters=parse_filters(filters),
    )
    epochs = [int(bucket.timestamp()) for bucket in iter_buckets(date_range, interval, zone)]
    totals = {epoch: [0, 0, 0, 0, 0.0] for epoch in epochs}  # visitors, pageviews, sessions, bounces, seconds
    for row in store_rows(store or get_store(), query):
        # A bucket start ClickHouse and Python disagree on goes to the bucket that holds it.
        index = bisect_right(epochs, int(row["bucket"])) - 1
        if index >= 0:
            line = totals[epochs[index]]
            for position, name in enumerate(("visitors", "pageviews", "sessions", "bounces", "duration_seconds")):
                line[position] += row[name]
    return [
        {
            "bucket": datetime.fromtimestamp(epoch, tz=UTC).astimezone(zone).isoformat(),
            "visitors": int(visitors),
            "pageviews": int(pageviews),
            "sessions": int(sessions),
            "bounce_rate": bounces / sessions if sessions else None,
            "avg_visit_seconds": float(seconds) / sessions if sessions else None,
        }
        for epoch, (visitors, pageviews, sessions, bounces, seconds) in totals.items()
    ]
