"""Session filters and session breakdowns in trends against the independent Python
sessionisation of tests/query/sessions_reference.py.

An event matches a session condition when its session does: the sessions are cut in Python
from every event of the range (``session_groups``), each session described as the API
describes it (``describe``), and the condition tested on those attributes with the plain
Python operator semantics of tests/query/helpers.py.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rest_framework.exceptions import ValidationError

from analytics.query.compiler.trends import compile_series
from analytics.query.model import DateRange
from analytics.query.presets import validate_preset
from analytics.query.runner import run_trends
from analytics.query.serializers import TrendsQuerySerializer
from tests.query.helpers import day_key, filter_matches, moment_of
from tests.query.sessions_reference import (
    describe,
    generate_web,
    page_of,
    referrer_domain,
    session_groups,
    with_derived_utm,
)
from tests.warehouse.helpers import new_project_id

pytestmark = pytest.mark.django_db

BERLIN = "Europe/Berlin"
ZONE = ZoneInfo(BERLIN)
# Across the spring-forward night in Berlin, so sessions are also cut at a 23-hour day's midnight.
START = datetime(2026, 3, 28, 18, tzinfo=UTC)
END = datetime(2026, 3, 30, 6, tzinfo=UTC)
RANGE = {"interval": "day", "from": START.isoformat(), "to": END.isoformat()}
NOW = datetime(2026, 4, 2, tzinfo=UTC)
DURATION_BUCKETS = [("0-10s", 10), ("10-60s", 60), ("1-3m", 180), ("3-10m", 600), ("10-30m", 1800)]


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate_web(project_id, start=START, persons=14, events_per_person=70, seed=8)
    clickhouse_store.insert_events(rows, dedup_token=f"session-filters-{project_id}")
    groups = session_groups(rows, time_zone=BERLIN, timeout_minutes=30, split=True, start=START, end=END)
    attributes = {key: _attributes(key, events) for key, events in groups.items()}
    by_event = {row["event_id"]: attributes[key] for key, events in groups.items() for row in events}
    return project_id, rows, by_event


def _duration_bucket(seconds: float) -> str:
    return next((label for label, bound in DURATION_BUCKETS if seconds < bound), "30m+")


def _attributes(key: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """A session's attributes as session conditions read them, as a pseudo event row: JSON-like
    ``properties`` where an empty text is not set (the helpers' operators then apply)."""
    session = describe(key, events, ZONE)
    texts = ["entry_url", "exit_url", "referrer", "utm_source", "utm_medium", "utm_campaign"]
    texts += ["country", "browser", "os", "device_type"]
    properties: dict[str, Any] = {name: session[name] for name in texts if session[name]}
    properties.update(
        duration_seconds=session["duration_seconds"],
        event_count=session["event_count"],
        pageviews=session["pageviews"],
        is_bounce=session["is_bounce"],
        **{"$session_duration_bucket": _duration_bucket(session["duration_seconds"])},
    )
    derived = {
        "$entry_pathname": page_of(session["entry_url"]),
        "$exit_pathname": page_of(session["exit_url"]),
        "$entry_referring_domain": referrer_domain(session["referrer"]),
    }
    properties.update({name: value for name, value in derived.items() if value})
    return {"properties": properties, "session_key": key}


def _query(body: dict[str, Any]) -> Any:
    serializer = TrendsQuerySerializer(data={**RANGE, **body}, context={"time_zone": BERLIN, "now": NOW})
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data["query"]


def _trends(project_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return run_trends(project_id=project_id, query=_query(body))


def _per_day(rows: list[dict[str, Any]]) -> dict[str, int]:
    return dict(Counter(day_key(moment_of(row), ZONE) for row in rows))


def _nonzero(line: dict[str, Any]) -> dict[str, Any]:
    return {point["bucket"]: point["value"] for point in line["points"] if point["value"]}


CONDITIONS = [
    {"key": "duration_seconds", "operator": "gt", "value": 60},
    {"key": "duration_seconds", "operator": "gte", "value": 9.999},
    {"key": "duration_seconds", "operator": "lt", "value": 10},
    {"key": "duration_seconds", "operator": "lte", "value": 0},
    {"key": "duration_seconds", "operator": "between", "value": [10, 1800]},
    {"key": "event_count", "operator": "eq", "value": 1},
    {"key": "event_count", "operator": "in", "value": [1, 2, "3"]},
    {"key": "event_count", "operator": "neq", "value": "1"},
    {"key": "pageviews", "operator": "gte", "value": 2},
    {"key": "is_bounce", "operator": "eq", "value": True},
    {"key": "is_bounce", "operator": "neq", "value": True},
    {"key": "entry_url", "operator": "contains", "value": "PRICING"},
    {"key": "entry_url", "operator": "not_contains", "value": "shop"},
    {"key": "exit_url", "operator": "is_not_set"},
    {"key": "$entry_pathname", "operator": "eq", "value": "/"},
    {"key": "$entry_pathname", "operator": "in", "value": ["/", "/checkout"]},
    {"key": "$entry_pathname", "operator": "not_in", "value": ["/", "/checkout"]},
    {"key": "$exit_pathname", "operator": "regex", "value": "^/(blog|docs)/"},
    {"key": "$exit_pathname", "operator": "not_regex", "value": "^/(blog|docs)/"},
    {"key": "referrer", "operator": "is_set"},
    {"key": "$entry_referring_domain", "operator": "eq", "value": "www.google.com"},
    {"key": "utm_source", "operator": "eq", "value": "newsletter"},
    {"key": "utm_campaign", "operator": "eq", "value": "black friday"},
    {"key": "country", "operator": "eq", "value": "DE"},
    {"key": "browser", "operator": "neq", "value": "Chrome"},
    {"key": "os", "operator": "in", "value": ["iOS", "Android"]},
    {"key": "country", "operator": "is_not_set"},
    {"key": "device_type", "operator": "contains", "value": "top"},
    {"key": "$session_duration_bucket", "operator": "eq", "value": "1-3m"},
]


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: f"{c['key']}-{c['operator']}")
def test_a_session_filter_counts_the_events_whose_session_matches(loaded, condition):
    project_id, rows, session_of = loaded
    counted = [row for row in rows if START <= moment_of(row) < END]

    answer = _trends(project_id, {"series": [{"event": None}], "filters": [{**condition, "type": "session"}]})

    want = [row for row in counted if filter_matches(session_of[row["event_id"]], condition)]
    (line,) = answer["series"]
    assert _nonzero(line) == _per_day(want)
    assert line["total"] == len(want)
    assert line["source"] == "events"


def test_every_operator_is_exercised_with_matches_and_misses(loaded):
    """The cases above are not vacuous: each matches some events of the data and misses some."""
    _, rows, session_of = loaded
    counted = [row for row in rows if START <= moment_of(row) < END]
    for condition in CONDITIONS:
        hits = sum(filter_matches(session_of[row["event_id"]], condition) for row in counted)
        assert 0 < hits < len(counted), condition


def test_session_and_event_conditions_nest_in_groups_with_unique_maths(loaded):
    project_id, rows, session_of = loaded
    filters = {
        "op": "or",
        "conditions": [
            {"key": "is_bounce", "type": "session", "operator": "eq", "value": True},
            [
                {"key": "$browser", "operator": "eq", "value": "Firefox"},
                {"key": "pageviews", "type": "session", "operator": "gt", "value": 3},
            ],
        ],
    }
    series_filter = [{"key": "country", "type": "session", "operator": "neq", "value": "US"}]
    body = {
        "series": [
            {"event": "$pageview", "math": "unique_sessions", "filters": series_filter},
            {"event": "$pageview", "math": "unique_users", "filters": series_filter},
        ],
        "filters": filters,
    }

    answer = _trends(project_id, body)

    def keep(row: dict[str, Any]) -> bool:
        session = session_of[row["event_id"]]
        first = session["properties"].get("is_bounce") is True
        second = row["browser"] == "Firefox" and session["properties"]["pageviews"] > 3
        return row["event"] == "$pageview" and (first or second) and session["properties"].get("country") != "US"

    counted = [row for row in rows if START <= moment_of(row) < END and keep(row)]
    sessions, users = answer["series"]
    assert sessions["total"] == len({session_of[row["event_id"]]["session_key"] for row in counted}) > 0
    assert users["total"] == len({row["person_id"] for row in counted}) > 0
    per_day: dict[str, set[str]] = defaultdict(set)
    for row in counted:
        per_day[day_key(moment_of(row), ZONE)].add(session_of[row["event_id"]]["session_key"])
    assert _nonzero(sessions) == {day: len(keys) for day, keys in per_day.items()}


def _breakdown_totals(answer: dict[str, Any]) -> dict[Any, Any]:
    return {line["breakdown_value"]: line["total"] for line in answer["series"]}


def test_breakdown_by_session_duration_bucket(loaded):
    project_id, rows, session_of = loaded
    counted = [row for row in rows if START <= moment_of(row) < END and row["event"] == "$pageview"]

    answer = _trends(
        project_id,
        {"series": [{"event": "$pageview"}], "breakdown": {"key": "$session_duration_bucket", "type": "session"}},
    )

    want = Counter(session_of[row["event_id"]]["properties"]["$session_duration_bucket"] for row in counted)
    assert len(want) >= 4
    assert _breakdown_totals(answer) == dict(want)
    for line in answer["series"]:
        bucket_rows = [
            row
            for row in counted
            if session_of[row["event_id"]]["properties"]["$session_duration_bucket"] == line["breakdown_value"]
        ]
        assert _nonzero(line) == _per_day(bucket_rows)


def test_breakdown_by_entry_page_keeps_the_top_values_and_other(loaded):
    project_id, rows, session_of = loaded
    counted = [row for row in rows if START <= moment_of(row) < END]

    answer = _trends(
        project_id,
        {
            "series": [{"event": None, "math": "unique_sessions"}],
            "breakdown": {"key": "$entry_pathname", "type": "session", "limit": 3},
        },
    )

    def entry(row: dict[str, Any]) -> str:
        return session_of[row["event_id"]]["properties"].get("$entry_pathname", "")

    volume = Counter(entry(row) for row in counted)
    top = sorted(volume, key=lambda value: (-volume[value], value))[:3]
    sessions: dict[str, set[str]] = defaultdict(set)
    for row in counted:
        value = entry(row)
        sessions[value if value in top else "$other"].add(session_of[row["event_id"]]["session_key"])
    want = {(value or None): len(keys) for value, keys in sessions.items()}
    assert len(volume) > 3
    assert _breakdown_totals(answer) == want


def test_plain_queries_do_not_cut_sessions_and_session_queries_join_them_once(loaded):
    project_id, _, _ = loaded
    plain = _query({"series": [{"event": None}], "breakdown": {"key": "$browser"}})
    sessioned = _query(
        {
            "series": [{"event": None}],
            "filters": [{"key": "browser", "type": "session", "operator": "eq", "value": "Safari"}],
        }
    )
    date_range = DateRange(START, END)

    plain_sql = compile_series(project_id=project_id, query=plain, series=plain.series[0], date_range=date_range)
    session_sql = compile_series(
        project_id=project_id, query=sessioned, series=sessioned.series[0], date_range=date_range
    )

    assert "session_key" not in plain_sql.query.sql
    assert session_sql.query.sql.count("AS session_attributes USING (session_key)") == 1
    assert "Safari" not in session_sql.query.sql  # the value travels as a parameter


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"filters": [{"key": "nope", "type": "session", "operator": "eq", "value": 1}]}, "filters"),
        ({"breakdown": {"key": "nope", "type": "session"}}, "breakdown"),
        ({"filters": [{"key": "duration_seconds", "type": "session", "operator": "gt", "value": "x"}]}, "filters"),
        ({"filters": [{"key": "entry_url", "type": "session", "operator": "regex", "value": "(?=a)"}]}, "filters"),
    ],
)
def test_bad_session_filters_and_breakdowns_are_400s_naming_the_field(body, field):
    serializer = TrendsQuerySerializer(
        data={**RANGE, "series": [{"event": None}], **body}, context={"time_zone": BERLIN, "now": NOW}
    )
    assert not serializer.is_valid()
    assert field in serializer.errors


def test_session_filters_are_refused_outside_trends():
    body = {"filters": [{"key": "browser", "type": "session", "operator": "eq", "value": "Safari"}]}
    with pytest.raises(ValidationError) as raised:
        validate_preset("active_users", body, time_zone=BERLIN, now=NOW)
    assert raised.value.detail["filters"]["0"]["type"] == ["session filters are supported in trends only"]


def test_unique_sessions_with_an_event_filter_and_an_event_breakdown(loaded):
    """The narrow cut (no session attribute): the filter and the breakdown value are computed
    per event while scanning, before the sessions are cut from every event of the range."""
    project_id, rows, session_of = loaded
    counted = [row for row in rows if START <= moment_of(row) < END and row["browser"] != "Safari"]

    answer = _trends(
        project_id,
        {
            "series": [{"event": None, "math": "unique_sessions"}],
            "filters": [{"key": "$browser", "operator": "neq", "value": "Safari"}],
            "breakdown": {"key": "$pathname", "limit": 2},
        },
    )

    volume = Counter(page_of(row["url"]) or "" for row in counted)
    top = sorted(volume, key=lambda value: (-volume[value], value))[:2]
    sessions: dict[str, set[str]] = defaultdict(set)
    per_day: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in counted:
        value = page_of(row["url"]) or ""
        line = value if value in top else "$other"
        key = session_of[row["event_id"]]["session_key"]
        sessions[line].add(key)
        per_day[(line, day_key(moment_of(row), ZONE))].add(key)
    assert len(volume) > 2
    assert _breakdown_totals(answer) == {(value or None): len(keys) for value, keys in sessions.items()}
    for line in answer["series"]:
        name = "$other" if line["is_other"] else (line["breakdown_value"] or "")
        want = {day: len(keys) for (value, day), keys in per_day.items() if value == name}
        assert _nonzero(line) == want


def test_a_session_filter_with_a_utm_breakdown_reads_properties_and_urls(loaded):
    """The session cut carries only the columns the series reads: here the JSON properties
    and the URL (the UTM key), the browser (a filter) and the persons (the math)."""
    project_id, rows, session_of = loaded
    counted = [
        row
        for row in rows
        if START <= moment_of(row) < END
        and row["browser"] != "Safari"
        and session_of[row["event_id"]]["properties"]["event_count"] > 2
    ]

    answer = _trends(
        project_id,
        {
            "series": [{"event": None, "math": "unique_users"}],
            "filters": [
                {"key": "$browser", "operator": "neq", "value": "Safari"},
                {"key": "event_count", "type": "session", "operator": "gt", "value": 2},
            ],
            "breakdown": {"key": "utm_source", "limit": 50},
        },
    )

    users: dict[str | None, set[str]] = defaultdict(set)
    for row in counted:
        users[with_derived_utm(row)["properties"].get("utm_source")].add(row["person_id"])
    assert len(users) >= 3
    assert _breakdown_totals(answer) == {value: len(persons) for value, persons in users.items()}
