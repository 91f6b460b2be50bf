"""The retention engine against the independent reference of ``reference.py``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.cohorts.runner import cell_users, run_retention
from analytics.cohorts.serializers import RetentionUsersSerializer
from tests.cohorts.reference import NOW, Spec, build, event_value, generate, reference
from tests.warehouse.helpers import new_project_id

BERLIN = "Europe/Berlin"


@pytest.fixture(scope="module")
def dataset(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    """Ten weeks of events across Berlin's spring DST change (2026-03-29), plus history before."""
    project_id = new_project_id()
    rows = generate(project_id, start=datetime(2026, 2, 10, tzinfo=UTC), days=75, persons=60, events=1500)
    clickhouse_store.insert_events(rows, dedup_token=f"retention-engine-{project_id}")
    return project_id, rows


def _compare(
    store: Any, dataset: Any, body: dict[str, Any], *, zone: str = BERLIN, now: datetime = NOW, group_of: Any = None
) -> dict[str, Any]:
    project_id, rows = dataset
    query = build(body, time_zone=zone, now=now)
    answer = run_retention(project_id=project_id, query=query, store=store, now=now)
    cohort = body["cohort_event"]
    returns = body.get("return_event") or cohort
    expected = reference(
        rows,
        cohort=Spec(cohort["event"], cohort.get("properties")),
        returns=Spec(returns["event"], returns.get("properties")),
        period=query.period,
        periods=query.periods,
        start=query.date_from,
        end=query.date_to,
        zone=ZoneInfo(zone),
        mode=query.mode,
        returning=query.returning,
        now=now,
        group_of=group_of,
    )
    if group_of is None:
        assert answer["cohorts"] == expected[None]
    return {"answer": answer, "expected": expected}


@pytest.mark.parametrize("mode", ["first_time", "recurring"])
@pytest.mark.parametrize("returning", ["on", "on_or_after"])
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_every_mode_and_period_matches_the_reference(store, dataset, mode, returning, period):
    periods = {"day": 10, "week": 6, "month": 3}[period]
    body = {
        "cohort_event": {"event": "signup"},
        "return_event": {"event": "pageview"},
        "period": period,
        "periods": periods,
        "from": "2026-03-02",
        "to": "2026-04-05",
        "mode": mode,
        "returning": returning,
    }

    result = _compare(store, dataset, body)

    cohorts = result["answer"]["cohorts"]
    assert all(cohort["values"][0] == cohort["size"] for cohort in cohorts)
    assert sum(cohort["size"] for cohort in cohorts) > 0
    assert any(value for cohort in cohorts for value in cohort["values"][1:])


def test_property_filters_on_both_events_match_the_reference(store, dataset):
    body = {
        "cohort_event": {
            "event": "pageview",
            "properties": [{"key": "plan", "operator": "in", "value": ["pro", "team"]}],
        },
        "return_event": {"event": "purchase", "properties": [{"key": "$browser", "operator": "eq", "value": "Chrome"}]},
        "period": "week",
        "periods": 5,
        "from": "2026-02-23",
        "to": "2026-03-29",
        "mode": "recurring",
        "returning": "on_or_after",
    }

    _compare(store, dataset, body)


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Kathmandu", BERLIN])
def test_time_zones_move_events_between_days(store, dataset, zone):
    # Berlin and Los Angeles change clocks on 2026-03-29 and 2026-03-08: 23-hour days inside the range.
    body = {
        "cohort_event": {"event": "pageview"},
        "return_event": {"event": "pageview"},
        "period": "day",
        "periods": 14,
        "from": "2026-03-05",
        "to": "2026-04-01",
        "mode": "recurring",
        "returning": "on",
    }

    result = _compare(store, dataset, body, zone=zone)

    starts = [cohort["start"] for cohort in result["answer"]["cohorts"]]
    assert len(starts) == 28  # "to" as a date includes that day
    if zone == BERLIN:
        assert "2026-03-29T00:00:00+01:00" in starts
        assert "2026-03-30T00:00:00+02:00" in starts


def test_periods_that_have_not_started_are_null_and_the_current_one_counts(store, dataset):
    now = datetime(2026, 4, 8, 10, tzinfo=UTC)  # a Wednesday: week of 2026-04-06 in progress
    body = {
        "cohort_event": {"event": "signup"},
        "return_event": {"event": "pageview"},
        "period": "week",
        "periods": 4,
        "from": "2026-03-16",
        "to": "2026-04-08",
        "mode": "first_time",
        "returning": "on_or_after",
    }

    result = _compare(store, dataset, body, now=now)

    values = {cohort["start"][:10]: cohort["values"] for cohort in result["answer"]["cohorts"]}
    assert values["2026-03-16"][3] is not None
    assert values["2026-03-16"][4] is None
    assert values["2026-04-06"][1:] == [None, None, None, None]
    assert values["2026-03-30"][1] is not None  # the week in progress counts returns so far


def test_empty_periods_and_an_unknown_event_are_zeros(store, dataset):
    project_id, _ = dataset
    body = {
        "cohort_event": {"event": "never-happened"},
        "period": "day",
        "periods": 3,
        "from": "2026-03-01",
        "to": "2026-03-03",  # a date as "to" includes that day
    }
    query = build(body, time_zone=BERLIN, now=NOW)

    answer = run_retention(project_id=project_id, query=query, store=store, now=NOW)

    assert [cohort["values"] for cohort in answer["cohorts"]] == [[0, 0, 0, 0]] * 3
    assert [cohort["start"] for cohort in answer["cohorts"]] == [
        "2026-03-01T00:00:00+01:00",
        "2026-03-02T00:00:00+01:00",
        "2026-03-03T00:00:00+01:00",
    ]


def test_first_time_leaves_out_users_whose_first_event_is_before_the_range(store, dataset):
    project_id, rows = dataset
    body = {
        "cohort_event": {"event": "pageview"},
        "period": "week",
        "periods": 2,
        "from": "2026-04-06",
        "to": "2026-04-13",
    }
    query = build(body, time_zone=BERLIN, now=NOW)

    answer = run_retention(project_id=project_id, query=query, store=store, now=NOW)

    active = {
        row["person_id"]
        for row in rows
        if row["event"] == "pageview" and query.date_from <= row["timestamp"] < query.date_to
    }
    earlier = {row["person_id"] for row in rows if row["event"] == "pageview" and row["timestamp"] < query.date_from}
    assert answer["cohorts"][0]["size"] == len(active - earlier)


@pytest.mark.parametrize("mode", ["first_time", "recurring"])
def test_event_property_breakdown_matches_the_reference(store, dataset, mode):
    body = {
        "cohort_event": {"event": "pageview"},
        "return_event": {"event": "purchase"},
        "period": "week",
        "periods": 4,
        "from": "2026-02-09",
        "to": "2026-03-30",
        "mode": mode,
        "returning": "on",
        "breakdown": {"key": "plan", "limit": 2},
    }

    result = _compare(store, dataset, body, group_of=event_value("plan"))

    answer, expected = result["answer"], result["expected"]
    groups = answer["breakdown"]
    by_size = sorted(expected, key=lambda group: (-sum(c["size"] for c in expected[group]), group or ""))
    top = by_size[:2]
    assert len(by_size) > 2  # the data has more values than the limit
    assert [group["breakdown_value"] for group in groups] == [*top, "$other"]
    for group in groups[:2]:
        assert group["cohorts"] == expected[group["breakdown_value"]]
    other = groups[2]["cohorts"]
    for index, cohort in enumerate(other):
        rest = [expected[name][index]["values"] for name in by_size[2:]]
        assert cohort["values"] == [None if column[0] is None else sum(column) for column in zip(*rest, strict=True)]
    # the totals are the table without a breakdown
    plain = dict(body)
    plain.pop("breakdown")
    assert answer["cohorts"] == _compare(store, dataset, plain)["answer"]["cohorts"]


def test_a_cohort_range_not_aligned_to_periods_keeps_only_events_inside_it(store, dataset):
    body = {
        "cohort_event": {"event": "pageview"},
        "period": "month",
        "periods": 1,
        "from": "2026-03-10T12:00:00",
        "to": "2026-03-20T08:00:00+01:00",
        "mode": "recurring",
    }

    result = _compare(store, dataset, body)

    assert [cohort["start"] for cohort in result["answer"]["cohorts"]] == ["2026-03-01T00:00:00+01:00"]
    assert result["answer"]["from"] == "2026-03-10T12:00:00+01:00"


def test_now_bounds_the_return_events(store, dataset):
    now = datetime(2026, 3, 18, 9, tzinfo=UTC) + timedelta(minutes=7)
    body = {
        "cohort_event": {"event": "signup"},
        "return_event": {"event": "pageview"},
        "period": "day",
        "periods": 3,
        "from": "2026-03-14",
        "to": "2026-03-19",
        "mode": "recurring",
        "returning": "on_or_after",
    }

    _compare(store, dataset, body, now=now)


def test_a_cell_named_by_a_local_date_is_that_local_day(store, dataset):
    project_id, rows = dataset
    zone = ZoneInfo("America/Los_Angeles")
    body = {
        "cohort_event": {"event": "pageview"},
        "period": "day",
        "periods": 2,
        "from": "2026-03-05",
        "to": "2026-03-12",
        "mode": "recurring",
        "cell": {"cohort": "2026-03-10", "k": 0},
        "limit": 1000,
    }
    serializer = RetentionUsersSerializer(data=body, context={"time_zone": zone.key, "now": NOW})
    assert serializer.is_valid(), serializer.errors
    data = serializer.validated_data

    page = cell_users(project_id=project_id, query=data["query"], cell=data["cell"], limit=1000, store=store, now=NOW)

    expected = {
        row["person_id"]
        for row in rows
        if row["event"] == "pageview" and row["timestamp"].astimezone(zone).date() == date(2026, 3, 10)
    }
    assert {user["person_id"] for user in page["users"]} == expected
    assert page["next_cursor"] is None
