"""Web statistics against an independent Python computation over the same events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rest_framework.exceptions import ValidationError

from analytics.core.errors import ApplicationError
from analytics.query.compiler.web import DIMENSIONS
from analytics.query.web import web_breakdown, web_breakdowns, web_summary, web_timeseries
from tests.query.helpers import filter_matches, moment_of
from tests.query.sessions_reference import (
    describe,
    generate_web,
    page_of,
    referrer_domain,
    session_groups,
    with_derived_utm,
)
from tests.warehouse.helpers import new_project_id

BERLIN = ZoneInfo("Europe/Berlin")
# Autumn in Berlin: 2026-10-25 03:00 local goes back to 02:00 (a 25-hour day).
START = datetime(2026, 10, 23, 22, tzinfo=UTC)  # local midnight of Oct 24 (+02:00)
END = datetime(2026, 10, 26, 23, tzinfo=UTC)  # local midnight of Oct 27 (+01:00)
FILTERS: list[Any] = [
    None,
    [{"key": "$browser", "operator": "eq", "value": "Chrome"}],
    {
        "op": "or",
        "conditions": [
            {"key": "utm_source", "operator": "is_set"},
            {"key": "$country", "operator": "eq", "value": "FR"},
        ],
    },
]


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[Any, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate_web(project_id, start=START, persons=15, events_per_person=70, seed=11)
    # Some events before the range (the previous period of the comparison).
    rows += generate_web(project_id, start=START - timedelta(days=3), persons=6, events_per_person=40, seed=12)
    clickhouse_store.insert_events(rows, dedup_token=f"web-stats-{project_id}")
    project = SimpleNamespace(
        id=project_id, timezone="Europe/Berlin", session_timeout_minutes=30, session_split_at_midnight=True
    )
    return project, rows


def _matching(row: dict[str, Any], filters: Any) -> bool:
    return row["event"] == "$pageview" and (filters is None or filter_matches(with_derived_utm(row), filters))


def _sessions(rows: list[dict[str, Any]], start: datetime, end: datetime, filters: Any) -> list[tuple[dict, int]]:
    groups = session_groups(rows, time_zone="Europe/Berlin", timeout_minutes=30, split=True, start=start, end=end)
    out = []
    for key, events in groups.items():
        matched = sum(1 for row in events if _matching(row, filters))
        if matched:
            out.append((describe(key, events, BERLIN), matched))
    return out


def _expected_summary(rows: list[dict[str, Any]], start: datetime, end: datetime, filters: Any) -> dict[str, Any]:
    pageviews = [row for row in rows if start <= moment_of(row) < end and _matching(row, filters)]
    sessions = _sessions(rows, start, end, filters)
    count = len(sessions)
    return {
        "visitors": len({row["person_id"] for row in pageviews}),
        "pageviews": len(pageviews),
        "sessions": count,
        "bounce_rate": sum(s["is_bounce"] for s, _ in sessions) / count if count else None,
        "avg_visit_seconds": sum(s["duration_seconds"] for s, _ in sessions) / count if count else None,
        "views_per_visit": len(pageviews) / count if count else None,
    }


def _approx(summary: dict[str, Any]) -> dict[str, Any]:
    return {key: value if value is None else pytest.approx(value) for key, value in summary.items()}


@pytest.mark.parametrize("filters", FILTERS)
def test_summary_matches_python(loaded, filters):
    project, rows = loaded

    summary = web_summary(project=project, date_from=START, date_to=END, filters=filters, compare=True)

    previous_start = datetime(2026, 10, 20, 22, tzinfo=UTC)  # three local days before, midnight +02:00
    assert summary["current"] == _approx(_expected_summary(rows, START, END, filters))
    assert summary["previous"] == _approx(_expected_summary(rows, previous_start, START, filters))
    assert summary["current"]["sessions"] > 10
    assert summary["previous"]["sessions"] > 3


def _session_value(session: dict[str, Any], dimension: str) -> str | None:
    if dimension == "entry_page":
        return page_of(session["entry_url"])
    if dimension == "exit_page":
        return page_of(session["exit_url"])
    if dimension == "referrer":
        return referrer_domain(session["referrer"])
    return session[dimension] or None


def _expected_breakdown(rows: list[dict[str, Any]], dimension: str, filters: Any, limit: int) -> list[dict[str, Any]]:
    visitors: dict[Any, set[str]] = defaultdict(set)
    pageviews: dict[Any, int] = defaultdict(int)
    sessions: dict[Any, int] = defaultdict(int)
    if dimension == "page":
        for row in rows:
            if START <= moment_of(row) < END and _matching(row, filters):
                value = page_of(row.get("url", ""))
                visitors[value].add(row["person_id"])
                pageviews[value] += 1
    else:
        for session, matched in _sessions(rows, START, END, filters):
            value = _session_value(session, dimension)
            visitors[value].add(session["person_id"])
            pageviews[value] += matched
            sessions[value] += 1
    ordered = sorted(visitors, key=lambda v: (-len(visitors[v]), -pageviews[v], v is None, v or ""))
    out = []
    for value in ordered[:limit]:
        item = {"value": value, "visitors": len(visitors[value]), "pageviews": pageviews[value]}
        if dimension != "page":
            item["sessions"] = sessions[value]
        out.append(item)
    return out


@pytest.mark.parametrize("dimension", DIMENSIONS)
@pytest.mark.parametrize("filters", [FILTERS[0], FILTERS[2]])
def test_breakdowns_match_python(loaded, dimension, filters):
    project, rows = loaded

    result = web_breakdown(project=project, date_from=START, date_to=END, dimension=dimension, filters=filters, limit=4)

    expected = _expected_breakdown(rows, dimension, filters, 4)
    assert result == expected
    assert len(result) >= 2


def test_all_breakdowns_at_once_match_python(loaded):
    project, rows = loaded
    filters = FILTERS[1]

    answer = web_breakdowns(
        project=project, date_from=START, date_to=END, dimensions=DIMENSIONS, filters=filters, limit=3
    )

    assert list(answer) == list(DIMENSIONS)
    assert answer == {dimension: _expected_breakdown(rows, dimension, filters, 3) for dimension in DIMENSIONS}


@pytest.mark.parametrize(("interval", "buckets"), [("day", 3), ("hour", 3 * 24 + 1)])
def test_timeseries_matches_python_across_the_dst_change(loaded, interval, buckets):
    project, rows = loaded
    filters = FILTERS[1]

    points = web_timeseries(project=project, date_from=START, date_to=END, interval=interval, filters=filters)

    def bucket_of(moment: datetime) -> str:
        local = moment.astimezone(BERLIN)
        if interval == "day":
            return datetime(local.year, local.month, local.day, tzinfo=BERLIN).isoformat()
        return moment.replace(minute=0, second=0, microsecond=0).astimezone(BERLIN).isoformat()

    visitors: dict[str, set[str]] = defaultdict(set)
    pageviews: dict[str, int] = defaultdict(int)
    for row in rows:
        if START <= moment_of(row) < END and _matching(row, filters):
            visitors[bucket_of(moment_of(row))].add(row["person_id"])
            pageviews[bucket_of(moment_of(row))] += 1
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for session, _ in _sessions(rows, START, END, filters):
        sessions[bucket_of(datetime.fromisoformat(session["start"]))].append(session)

    def expected(bucket: str) -> dict[str, Any]:
        started = sessions[bucket]
        return {
            "bucket": bucket,
            "visitors": len(visitors[bucket]),
            "pageviews": pageviews[bucket],
            "sessions": len(started),
            "bounce_rate": sum(s["is_bounce"] for s in started) / len(started) if started else None,
            "avg_visit_seconds": pytest.approx(sum(s["duration_seconds"] for s in started) / len(started))
            if started
            else None,
        }

    assert len(points) == buckets  # the 25-hour day has 25 hour buckets
    assert points[0]["bucket"] == "2026-10-24T00:00:00+02:00"
    assert points == [expected(p["bucket"]) for p in points]
    assert sum(p["pageviews"] for p in points) == sum(pageviews.values()) > 0
    assert sum(p["sessions"] for p in points) == sum(len(v) for v in sessions.values()) > 0


def test_an_empty_range_has_no_rates(loaded):
    project, _ = loaded
    empty_start = datetime(2030, 1, 1, tzinfo=UTC)

    summary = web_summary(project=project, date_from=empty_start, date_to=empty_start + timedelta(days=1))

    assert summary == {
        "visitors": 0,
        "pageviews": 0,
        "sessions": 0,
        "bounce_rate": None,
        "avg_visit_seconds": None,
        "views_per_visit": None,
    }


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: web_breakdown(project=p, date_from=START, date_to=END, dimension="planet"), "dimension"),
        (lambda p: web_breakdown(project=p, date_from=START, date_to=END, dimension="page", limit=0), "limit"),
        (lambda p: web_timeseries(project=p, date_from=START, date_to=END, interval="fortnight"), "interval"),
        (
            lambda p: web_timeseries(project=p, date_from=START, date_to=END + timedelta(days=30), interval="minute"),
            "interval",
        ),
        (lambda p: web_summary(project=p, date_from=END, date_to=START), "from"),
    ],
)
def test_bad_arguments_name_their_field(loaded, call, field):
    project, _ = loaded

    with pytest.raises(ApplicationError) as raised:
        call(project)

    assert field in raised.value.extra["fields"]


def test_a_bad_filter_is_a_validation_error_under_filters(loaded):
    project, _ = loaded

    with pytest.raises(ValidationError) as raised:
        web_summary(project=project, date_from=START, date_to=END, filters=[{"key": "x", "operator": "nope"}])

    assert "filters" in raised.value.detail
