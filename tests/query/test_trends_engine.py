"""The trends engine against an independent computation in plain Python over the same events."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.query.runner import OTHER, run_trends
from tests.query.helpers import (
    build,
    day_key,
    days,
    filter_matches,
    generate,
    moment_of,
    number_view,
    percentile,
    text_view,
)
from tests.warehouse.helpers import new_project_id

pytestmark = pytest.mark.django_db

UTC_ZONE = ZoneInfo("UTC")
START = datetime(2026, 3, 10, tzinfo=UTC)
DAYS = days(date(2026, 3, 10), date(2026, 3, 14), UTC_ZONE)
RANGE = {"interval": "day", "from": "2026-03-10", "to": "2026-03-14"}


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate(project_id, start=START, hours=24 * 5, count=800)
    clickhouse_store.insert_events(rows, dedup_token=f"query-engine-{project_id}")
    return project_id, rows


def trends(project_id: int, body: dict[str, Any], time_zone: str = "UTC") -> dict[str, Any]:
    return run_trends(project_id=project_id, query=build({**RANGE, **body}, time_zone=time_zone))


def per_day(rows: list[dict[str, Any]], zone: ZoneInfo = UTC_ZONE) -> dict[str, int]:
    return Counter(day_key(moment_of(row), zone) for row in rows)


OPERATOR_CASES = [
    {"key": "plan", "operator": "eq", "value": "pro"},
    {"key": "plan", "operator": "eq", "value": 42},
    {"key": "plan", "operator": "eq", "value": "42"},
    {"key": "plan", "operator": "eq", "value": 3.5},
    {"key": "plan", "operator": "eq", "value": True},
    {"key": "plan", "operator": "eq", "value": ""},
    {"key": "plan", "operator": "eq", "value": "ünï"},
    {"key": "plan", "operator": "neq", "value": "pro"},
    {"key": "plan", "operator": "neq", "value": True},
    {"key": "plan", "operator": "in", "value": ["pro", 42, False]},
    {"key": "plan", "operator": "not_in", "value": ["free", "Pro", 7]},
    {"key": "path", "operator": "contains", "value": "checkout"},
    {"key": "plan", "operator": "contains", "value": "PRO"},
    {"key": "path", "operator": "not_contains", "value": "blog"},
    {"key": "path", "operator": "regex", "value": r"^/blog/post-\d$"},
    {"key": "path", "operator": "regex", "value": r"a\.b"},
    {"key": "plan", "operator": "not_regex", "value": "^p"},
    {"key": "amount", "operator": "gt", "value": 3},
    {"key": "amount", "operator": "gte", "value": 3.5},
    {"key": "amount", "operator": "lt", "value": "7"},
    {"key": "amount", "operator": "lte", "value": 0},
    {"key": "amount", "operator": "between", "value": [1, 10]},
    {"key": "plan", "operator": "is_set"},
    {"key": "amount", "operator": "is_not_set"},
    {"key": "no_such_property", "operator": "eq", "value": "x"},
    {"key": "no_such_property", "operator": "neq", "value": "x"},
    {"key": "event", "operator": "eq", "value": "signup"},
    {"key": "$browser", "operator": "eq", "value": "Chrome"},
    {"key": "$browser", "operator": "in", "value": ["Firefox", "Safari"]},
    {"key": "$browser", "operator": "is_not_set"},
    {"key": "$browser", "operator": "regex", "value": "^(Ed|Op)"},
    {"key": "$country", "operator": "contains", "value": "e"},
    {"key": "$country", "operator": "neq", "value": "US"},
]


@pytest.mark.parametrize("condition", OPERATOR_CASES, ids=lambda c: f"{c['key']}-{c['operator']}-{c.get('value')}")
def test_every_operator_matches_the_python_model(loaded, condition):
    project_id, rows = loaded
    expected_rows = [row for row in rows if filter_matches(row, [condition])]

    answer = trends(project_id, {"series": [{"event": None, "filters": [condition]}]})

    (series,) = answer["series"]
    expected = per_day(expected_rows)
    assert [point["bucket"] for point in series["points"]] == DAYS
    assert {p["bucket"]: p["value"] for p in series["points"]} == {day: expected.get(day, 0) for day in DAYS}
    assert series["total"] == len(expected_rows)
    assert 0 < len(expected_rows) < len(rows) or condition["key"] == "no_such_property"


def test_nested_groups_and_global_filters(loaded):
    project_id, rows = loaded
    series_filter = {
        "op": "or",
        "conditions": [
            {"key": "plan", "operator": "eq", "value": "pro"},
            {
                "op": "and",
                "conditions": [
                    {"key": "amount", "operator": "gt", "value": 5},
                    {"key": "$browser", "operator": "eq", "value": "Chrome"},
                ],
            },
        ],
    }
    global_filter = [{"key": "$country", "operator": "neq", "value": "FR"}]
    expected = [
        row
        for row in rows
        if row["event"] == "pageview" and filter_matches(row, series_filter) and filter_matches(row, global_filter)
    ]

    answer = trends(project_id, {"series": [{"event": "pageview", "filters": series_filter}], "filters": global_filter})

    assert answer["series"][0]["total"] == len(expected) > 0
    assert {p["bucket"]: p["value"] for p in answer["series"][0]["points"]} == {
        day: per_day(expected).get(day, 0) for day in DAYS
    }


def _reference_math(math: str, rows: list[dict[str, Any]]) -> float:
    if math == "total":
        return len(rows)
    if math == "unique_users":
        return len({row["person_id"] for row in rows})
    values = [value for row in rows if (value := number_view(row, "amount")) is not None]
    if not values:
        return 0
    if math.startswith("p"):
        return percentile(values, int(math[1:]) / 100)
    return {"sum": sum, "avg": mean, "min": min, "max": max}[math](values)


@pytest.mark.parametrize(
    "math", ["total", "unique_users", "sum", "avg", "min", "max", "p50", "p75", "p90", "p95", "p99"]
)
def test_every_math_matches_the_python_model(loaded, math):
    project_id, rows = loaded
    purchases = [row for row in rows if row["event"] == "purchase"]
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in purchases:
        by_day[day_key(moment_of(row), UTC_ZONE)].append(row)
    series: dict[str, Any] = {"event": "purchase", "math": math}
    if math not in ("total", "unique_users"):
        series["property"] = "amount"

    answer = trends(project_id, {"series": [series]})

    (line,) = answer["series"]
    assert {p["bucket"]: p["value"] for p in line["points"]} == pytest.approx(
        {day: _reference_math(math, by_day[day]) for day in DAYS}
    )
    assert line["total"] == pytest.approx(_reference_math(math, purchases))


def test_breakdown_by_hot_column_keeps_top_n_and_sums_the_rest_as_other(loaded):
    project_id, rows = loaded
    counts = Counter(row["browser"] for row in rows)
    top = sorted(counts, key=lambda value: (-counts[value], value))[:2]

    answer = trends(project_id, {"series": [{"event": None}], "breakdown": {"key": "$browser", "limit": 2}})

    lines = answer["series"]
    assert [line["breakdown_value"] for line in lines] == [*top, OTHER]
    assert [line["is_other"] for line in lines] == [False, False, True]
    for line in lines:
        members = [
            r
            for r in rows
            if (r["browser"] in top) != line["is_other"]
            and (line["is_other"] or r["browser"] == line["breakdown_value"])
        ]
        assert line["total"] == len(members)
        assert {p["bucket"]: p["value"] for p in line["points"]} == {day: per_day(members).get(day, 0) for day in DAYS}


def test_breakdown_by_json_property_with_unique_users(loaded):
    project_id, rows = loaded
    value_of = {id(row): text_view(row, "plan") or "" for row in rows}
    counts = Counter(value_of.values())
    top = sorted(counts, key=lambda value: (-counts[value], value))[:3]

    answer = trends(
        project_id, {"series": [{"event": None, "math": "unique_users"}], "breakdown": {"key": "plan", "limit": 3}}
    )

    got = {(line["breakdown_value"], line["is_other"]): line["total"] for line in answer["series"]}
    expected = {
        (value or None, False): len({r["person_id"] for r in rows if value_of[id(r)] == value}) for value in top
    }
    expected[(OTHER, True)] = len({r["person_id"] for r in rows if value_of[id(r)] not in top})
    assert got == expected


def test_compare_with_the_previous_period_of_equal_length(loaded):
    project_id, rows = loaded

    answer = trends(
        project_id, {"series": [{"event": "signup"}], "from": "2026-03-12", "to": "2026-03-13", "compare": True}
    )

    current, previous = answer["series"]
    assert (current["compare"], previous["compare"]) == ("current", "previous")
    assert previous["label"] == "signup (previous)"
    signups = per_day([row for row in rows if row["event"] == "signup"])
    assert [(p["bucket"], p["value"]) for p in current["points"]] == [
        (day, signups[day]) for day in days(date(2026, 3, 12), date(2026, 3, 13), UTC_ZONE)
    ]
    assert [(p["bucket"], p["value"]) for p in previous["points"]] == [
        (day, signups[day]) for day in days(date(2026, 3, 10), date(2026, 3, 11), UTC_ZONE)
    ]


def test_empty_buckets_are_zero_and_unknown_events_give_zeros(loaded):
    project_id, _ = loaded

    answer = trends(project_id, {"series": [{"event": "never-sent"}], "from": "2026-03-08", "to": "2026-03-09"})

    assert [p["value"] for p in answer["series"][0]["points"]] == [0, 0]
    assert answer["series"][0]["total"] == 0
    assert answer["source"] == "events"
