"""Person filters, person breakdowns, segment filters and derived breakdowns against plain Python."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from analytics.query import membership
from analytics.query.compiler.params import Params
from analytics.query.membership import SegmentMissing, register_segment_resolver
from analytics.query.runner import OTHER, run_trends
from tests.query.helpers import build, day_key, days, filter_matches, generate, generate_persons, moment_of, text_view
from tests.warehouse.helpers import event_row, new_project_id

pytestmark = pytest.mark.django_db

UTC_ZONE = ZoneInfo("UTC")
START = datetime(2026, 3, 10, tzinfo=UTC)
RANGE = {"interval": "day", "from": "2026-03-10", "to": "2026-03-12"}
DAYS = days(START.date(), START.date() + timedelta(days=2), UTC_ZONE)


@pytest.fixture(scope="module")
def people(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate(project_id, start=START, hours=72, count=600, seed=3)
    clickhouse_store.insert_events(rows, dedup_token=f"query-persons-{project_id}")
    tables, expected = generate_persons(project_id, rows)
    for index, table in enumerate(tables):
        clickhouse_store.insert_arrow("persons", table, dedup_token=f"query-persons-{project_id}-{index}")
    return project_id, rows, expected


def trends(project_id: int, body: dict[str, Any]) -> dict[str, Any]:
    return run_trends(project_id=project_id, query=build({**RANGE, **body}))


def per_day(rows: list[dict[str, Any]]) -> list[int]:
    counts = Counter(day_key(moment_of(row), UTC_ZONE) for row in rows)
    return [counts.get(day, 0) for day in DAYS]


def values(answer: dict[str, Any], index: int = 0) -> list[Any]:
    return [point["value"] for point in answer["series"][index]["points"]]


PERSON_CASES = [
    {"key": "plan", "operator": "eq", "value": "pro"},
    {"key": "plan", "operator": "eq", "value": 42},
    {"key": "plan", "operator": "eq", "value": True},
    {"key": "plan", "operator": "neq", "value": "free"},
    {"key": "plan", "operator": "in", "value": ["pro", 7, False]},
    {"key": "plan", "operator": "not_in", "value": ["pro", "42"]},
    {"key": "plan", "operator": "contains", "value": "PRO"},
    {"key": "plan", "operator": "not_contains", "value": "r"},
    {"key": "plan", "operator": "regex", "value": "^[pP]"},
    {"key": "plan", "operator": "not_regex", "value": "e$"},
    {"key": "age", "operator": "gt", "value": 3},
    {"key": "age", "operator": "gte", "value": "3.5"},
    {"key": "age", "operator": "lt", "value": 2},
    {"key": "age", "operator": "lte", "value": 0},
    {"key": "age", "operator": "between", "value": [1, 12.25]},
    {"key": "plan", "operator": "is_set"},
    {"key": "age", "operator": "is_not_set"},
    {"key": "no_such_person_property", "operator": "eq", "value": "x"},
    {"key": "no_such_person_property", "operator": "not_regex", "value": "x"},
]


def person_of(row: dict[str, Any], expected: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The row as the person filter sees it: the person's latest live properties."""
    return {"properties": expected.get(row["person_id"], {})}


@pytest.mark.parametrize("condition", PERSON_CASES, ids=lambda c: f"{c['key']}-{c['operator']}-{c.get('value')}")
def test_every_operator_on_person_properties(people, condition):
    project_id, rows, expected = people

    answer = trends(project_id, {"series": [{"event": None}], "filters": [{**condition, "type": "person"}]})

    matching = [row for row in rows if filter_matches(person_of(row, expected), condition)]
    assert values(answer) == per_day(matching)
    assert answer["series"][0]["total"] == len(matching)


def test_person_and_event_conditions_nest_in_groups(people):
    project_id, rows, expected = people
    person = {"key": "plan", "type": "person", "operator": "in", "value": ["pro", "free"]}
    event = {"key": "$browser", "operator": "eq", "value": "Chrome"}

    answer = trends(
        project_id,
        {"series": [{"event": "pageview", "filters": {"op": "or", "conditions": [person, event]}}]},
    )

    matching = [
        row
        for row in rows
        if row["event"] == "pageview"
        and (filter_matches(person_of(row, expected), person) or filter_matches(row, event))
    ]
    assert values(answer) == per_day(matching)


def test_person_breakdown_is_top_n_by_volume_plus_other(people):
    project_id, rows, expected = people

    answer = trends(
        project_id, {"series": [{"event": None}], "breakdown": {"key": "plan", "type": "person", "limit": 3}}
    )

    volumes = Counter(text_view(person_of(row, expected), "plan") or "" for row in rows)
    top = sorted(volumes, key=lambda value: (-volumes[value], value))[:3]
    want = {value or None: volumes[value] for value in top}
    want[OTHER] = sum(count for value, count in volumes.items() if value not in top)
    got = {line["breakdown_value"]: line["total"] for line in answer["series"]}
    assert got == want
    assert [line["breakdown_value"] for line in answer["series"]][-1] == OTHER
    by_value = {line["breakdown_value"]: line for line in answer["series"]}
    for value in top:
        group = [row for row in rows if (text_view(person_of(row, expected), "plan") or "") == value]
        assert values({"series": [by_value[value or None]]}) == per_day(group)


SEGMENT_MEMBERS_ID = 41
MISSING_SEGMENT_ID = 42


@pytest.fixture
def segment_resolver(people):
    """A tiny resolver standing in for the segments app: segment 41 is every other person."""
    _, rows, _ = people
    members = sorted({row["person_id"] for row in rows})[::2]

    def resolve(*, project_id: int, segment_id: int, params: Params) -> tuple[str, str]:
        if segment_id != SEGMENT_MEMBERS_ID:
            raise SegmentMissing(segment_id)
        return "person_id", f"(SELECT toUUID(arrayJoin({params.add(members, 'Array(String)')})))"

    previous = membership._resolver
    register_segment_resolver(resolve)
    yield set(members)
    membership._resolver = previous


@pytest.mark.parametrize(("operator", "inside"), [("in", True), ("eq", True), ("not_in", False), ("neq", False)])
def test_segment_condition_restricts_to_members(people, segment_resolver, operator, inside):
    project_id, rows, _ = people
    condition = {"type": "segment", "key": "id", "operator": operator, "value": SEGMENT_MEMBERS_ID}

    answer = trends(project_id, {"series": [{"event": None, "filters": [condition]}]})

    matching = [row for row in rows if (row["person_id"] in segment_resolver) == inside]
    assert values(answer) == per_day(matching)


def test_a_missing_segment_is_refused(people, segment_resolver):
    project_id, _, _ = people
    condition = {"type": "segment", "key": "id", "operator": "in", "value": MISSING_SEGMENT_ID}

    with pytest.raises(SegmentMissing) as error:
        trends(project_id, {"series": [{"event": None}], "filters": [condition]})
    assert error.value.extra["fields"]["segment"]


URLS = [
    "https://shop.example/checkout?utm_source=news&utm_medium=email&utm_campaign=spring+sale",
    "https://shop.example/checkout/done?utm_source=ads",
    "https://shop.example/blog/post-1?ref=x",
    "https://shop.example",
    "",
]
REFERRERS = ["https://www.google.com/search?q=a", "http://t.co/abc", "https://news.example:8443/x", ""]


@pytest.fixture(scope="module")
def web(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = []
    for index in range(240):
        properties: dict[str, Any] = {}
        if index % 5 == 0:
            properties["utm_source"] = "newsletter-prop"  # a property wins over the URL
        if index % 11 == 0:
            properties["utm_source"] = ""  # empty: the URL's parameter is used
        moment = START + timedelta(minutes=17 * index)
        rows.append(
            event_row(
                project_id,
                timestamp=moment,
                received_at=moment,
                url=URLS[index % len(URLS)],
                referrer=REFERRERS[index % len(REFERRERS)],
                os=["Mac OS X", "Windows", "iOS", ""][index % 4],
                device_type=["Desktop", "Mobile", "Tablet"][index % 3],
                country=["DE", "FR", ""][index % 3],
                browser=["Chrome", "Safari"][index % 2],
                properties=properties,
            )
        )
    clickhouse_store.insert_events(rows, dedup_token=f"query-derived-{project_id}")
    return project_id, rows


def _utm(row: dict[str, Any], key: str) -> str:
    if row["properties"].get(key):
        return row["properties"][key]
    return parse_qs(urlsplit(row["url"]).query).get(key, [""])[0]


DERIVED = {
    "$pathname": lambda row: urlsplit(row["url"]).path,
    "$referring_domain": lambda row: urlsplit(row["referrer"]).hostname or "",
    "utm_source": lambda row: _utm(row, "utm_source"),
    "utm_medium": lambda row: _utm(row, "utm_medium"),
    "utm_campaign": lambda row: _utm(row, "utm_campaign"),
    "$os": lambda row: row["os"],
    "$device_type": lambda row: row["device_type"],
    "$country": lambda row: row["country"],
    "$browser": lambda row: row["browser"],
}


@pytest.mark.parametrize("key", sorted(DERIVED))
def test_derived_breakdowns(web, key):
    project_id, rows = web

    answer = trends(project_id, {"series": [{"event": None}], "breakdown": {"key": key, "limit": 50}})

    want = Counter(DERIVED[key](row) or None for row in rows)
    assert {line["breakdown_value"]: line["total"] for line in answer["series"]} == want


def test_derived_keys_filter_too(web):
    project_id, rows = web
    condition = {"key": "utm_source", "operator": "eq", "value": "ads"}

    answer = trends(project_id, {"series": [{"event": None, "filters": [condition]}]})

    assert answer["series"][0]["total"] == sum(1 for row in rows if _utm(row, "utm_source") == "ads")


def test_person_breakdown_with_person_and_event_filters(people):
    project_id, rows, expected = people
    person = {"key": "age", "type": "person", "operator": "is_set"}
    event = {"key": "plan", "operator": "neq", "value": "pro"}

    answer = trends(
        project_id,
        {
            "series": [{"event": None, "math": "unique_users", "filters": [event]}],
            "filters": [person],
            "breakdown": {"key": "plan", "type": "person", "limit": 50},
        },
    )

    groups: dict[str | None, set[str]] = {}
    for row in rows:
        if filter_matches(person_of(row, expected), person) and filter_matches(row, event):
            value = text_view(person_of(row, expected), "plan") or None
            groups.setdefault(value, set()).add(row["person_id"])
    assert {line["breakdown_value"]: line["total"] for line in answer["series"]} == {
        value: len(persons) for value, persons in groups.items()
    }
