"""Per-user and session maths, and formulas across series, against plain Python."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from statistics import mean
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.query.formula import FormulaError, evaluate, parse_formula
from analytics.query.runner import run_trends
from analytics.query.serializers import TrendsQuerySerializer
from tests.query.helpers import build, day_key, days, generate, moment_of, percentile
from tests.query.sessions_reference import session_groups
from tests.warehouse.helpers import new_project_id

pytestmark = pytest.mark.django_db

UTC_ZONE = ZoneInfo("UTC")
START = datetime(2026, 3, 10, tzinfo=UTC)
RANGE = {"interval": "day", "from": "2026-03-10", "to": "2026-03-13"}
DAYS = days(START.date(), START.date() + timedelta(days=3), UTC_ZONE)


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate(project_id, start=START, hours=24 * 3, count=700, seed=5)
    rng = random.Random(9)
    for row in rows:
        # Most events carry a client session id; some none (they count in no session).
        row["session_id"] = "" if rng.random() < 0.1 else f"{row['distinct_id']}-s{rng.randrange(4)}"
    clickhouse_store.insert_events(rows, dedup_token=f"query-maths-{project_id}")
    return project_id, rows


def trends(project_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return run_trends(project_id=project_id, query=build({**RANGE, **body}))


def by_day(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[day_key(moment_of(row), UTC_ZONE)].append(row)
    return grouped


PER_USER = {
    "avg_per_user": mean,
    "min_per_user": min,
    "max_per_user": max,
    "median_per_user": lambda counts: percentile(counts, 0.5),
}


def per_user(rows: list[dict[str, Any]], statistic: Any) -> float:
    counts = Counter(row["person_id"] for row in rows)
    return statistic(list(counts.values())) if counts else 0


@pytest.mark.parametrize("math", sorted(PER_USER))
def test_per_user_maths(loaded, math):
    project_id, rows = loaded
    purchases = [row for row in rows if row["event"] == "pageview"]

    answer = trends(project_id, {"series": [{"event": "pageview", "math": math}]})

    (series,) = answer["series"]
    grouped = by_day(purchases)
    want = [per_user(grouped.get(day, []), PER_USER[math]) for day in DAYS]
    assert [point["value"] for point in series["points"]] == pytest.approx(want)
    # The total is the statistic of each person's events over the whole period.
    assert series["total"] == pytest.approx(per_user(purchases, PER_USER[math]))


def test_per_user_math_with_a_breakdown(loaded):
    project_id, rows = loaded

    answer = trends(
        project_id,
        {"series": [{"event": None, "math": "max_per_user"}], "breakdown": {"key": "$browser", "limit": 50}},
    )

    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["browser"]].append(row)
    want = {value or None: per_user(group, max) for value, group in groups.items()}
    assert {line["breakdown_value"]: line["total"] for line in answer["series"]} == want


def _session_of(rows: list[dict[str, Any]], *, timeout_minutes: int) -> dict[str, str]:
    """Event id -> its session key, by the independent sessionisation of the tests."""
    groups = session_groups(
        rows,
        time_zone="UTC",
        timeout_minutes=timeout_minutes,
        split=True,
        start=datetime(2026, 3, 10, tzinfo=UTC),
        end=datetime(2026, 3, 13, tzinfo=UTC),
    )
    return {row["event_id"]: key for key, events in groups.items() for row in events}


@pytest.mark.parametrize("timeout_minutes", [30, 1])
@pytest.mark.parametrize("event", [None, "purchase"])
def test_unique_sessions(loaded, timeout_minutes, event):
    """Sessions are cut from every event of the range (client ids win, else the project's
    timeout and midnight), then the series' event picks the events whose sessions count."""
    project_id, rows = loaded
    serializer = TrendsQuerySerializer(
        data={**RANGE, "series": [{"event": event, "math": "unique_sessions"}]},
        context={
            "time_zone": "UTC",
            "now": datetime(2026, 3, 20, 12, tzinfo=UTC),
            "session_timeout_minutes": timeout_minutes,
        },
    )
    assert serializer.is_valid(), serializer.errors
    answer = run_trends(project_id=project_id, query=serializer.validated_data["query"])

    session_of = _session_of(rows, timeout_minutes=timeout_minutes)
    counted = [row for row in rows if event is None or row["event"] == event]
    grouped = by_day(counted)
    want = [len({session_of[row["event_id"]] for row in grouped.get(day, [])}) for day in DAYS]
    (series,) = answer["series"]
    assert [point["value"] for point in series["points"]] == want
    assert series["total"] == len({session_of[row["event_id"]] for row in counted})
    assert series["total"] > 0


def test_formula_across_series_with_division_by_zero(loaded):
    project_id, rows = loaded
    body = {
        "series": [
            {"event": "purchase"},
            {"event": "pageview", "filters": [{"key": "$browser", "operator": "eq", "value": "Edge"}]},
        ],
        "formula": "A / B * 100",
    }

    answer = trends(project_id, body)

    grouped = by_day(rows)

    def ratio(day_rows: list[dict[str, Any]]) -> float | None:
        a = sum(1 for row in day_rows if row["event"] == "purchase")
        b = sum(1 for row in day_rows if row["event"] == "pageview" and row["browser"] == "Edge")
        return None if b == 0 else a / b * 100

    (line,) = answer["series"]
    assert line["math"] == "formula"
    assert line["label"] == "A / B * 100"
    assert [point["value"] for point in line["points"]] == pytest.approx([ratio(grouped.get(d, [])) for d in DAYS])
    assert line["total"] == pytest.approx(ratio(rows))


def test_formula_per_breakdown_value_and_period(loaded):
    project_id, rows = loaded
    body = {
        "series": [{"event": "purchase"}, {"event": "pageview"}],
        "formula": "(A + B) / 2 - -1",
        "breakdown": {"key": "$country", "limit": 50},
        "compare": True,
    }

    answer = trends(project_id, body)

    current = {line["breakdown_value"]: line["total"] for line in answer["series"] if line["compare"] == "current"}
    want = {}
    for country in {row["country"] for row in rows}:
        group = [row for row in rows if row["country"] == country]
        a = sum(1 for row in group if row["event"] == "purchase")
        b = sum(1 for row in group if row["event"] == "pageview")
        want[country or None] = (a + b) / 2 + 1
    assert current == pytest.approx(want)
    # No events in the previous period: a breakdown has no values there, so no lines.
    assert [line for line in answer["series"] if line["compare"] == "previous"] == []


def test_formula_with_compare_without_breakdown(loaded):
    project_id, rows = loaded

    answer = trends(
        project_id, {"series": [{"event": "purchase"}, {"event": None}], "formula": "A / B", "compare": True}
    )

    current, previous = answer["series"]
    assert (current["compare"], previous["compare"]) == ("current", "previous")
    assert current["total"] == pytest.approx(sum(1 for row in rows if row["event"] == "purchase") / len(rows))
    assert previous["total"] is None  # 0 / 0
    assert {point["value"] for point in previous["points"]} == {None}


BAD_FORMULAS = [
    "",
    "A +",
    "C",  # two series only
    "AB",
    "a / b",
    "A ** 2",
    "A % 2",
    "A // B",
    "A if B else 1",
    "[A, B]",
    "abs(A)",
    "A.real",
    "A[0]",
    "__import__('os').system('id')",
    "(lambda: 1)()",
    "'A'",
    "True + A",
    "A < B",
    "A; B",
    "A\n+B; import os",
    "{project_id:UInt64}",
    "1" * 300,
]


@pytest.mark.parametrize("formula", BAD_FORMULAS)
def test_bad_formulas_are_refused_naming_formula(formula):
    serializer = TrendsQuerySerializer(
        data={"series": [{"event": "a"}, {"event": "b"}], "formula": formula},
        context={"time_zone": "UTC", "now": datetime(2026, 3, 20, tzinfo=UTC)},
    )

    assert not serializer.is_valid()
    assert list(serializer.errors) == ["formula"]


def test_formula_evaluation_is_plain_arithmetic():
    tree = parse_formula("(A - B) / (C * 2) + 0.5", 3)

    assert evaluate(tree, {"A": 10, "B": 4, "C": 3}) == pytest.approx(1.5)
    assert evaluate(tree, {"A": 10, "B": 4, "C": 0}) is None
    assert evaluate(tree, {"A": None, "B": 4, "C": 1}) is None
    with pytest.raises(FormulaError):
        parse_formula("A " + "+ A " * 60, 1)
