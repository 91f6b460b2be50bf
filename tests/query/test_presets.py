"""Preset reports against an independent computation in plain Python over the same events.

Two projects hold the same generated events: one in UTC, one in Europe/Berlin (the range
crosses the change to summer time on 2026-03-29), so local days differ between them.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from rest_framework import serializers

from analytics.query.presets import run_preset, validate_preset
from tests.query.helpers import filter_matches
from tests.warehouse.helpers import event_row, new_project_id

START = datetime(2026, 2, 20, tzinfo=UTC)
HOURS = 24 * 50
NOW = datetime(2026, 4, 20, 12, tzinfo=UTC)
URLS = [
    "https://shop.example/",
    "https://shop.example",
    "https://shop.example/pricing?ref=x",
    "https://shop.example/docs/start#top",
    "https://shop.example/pricing",
    "https://shop.example/blog/post-1",
    "https://shop.example/about/",
    "",
]
REFERRERS = [
    "",
    "https://www.google.com/search?q=a",
    "https://news.ycombinator.com/item?id=1",
    "http://blog.example:8080/p",
    "nonsense",
]
PLANS = ["pro", "free", "team", None]
ZONES = ("UTC", "Europe/Berlin")


def generate(project_id: int) -> list[dict[str, Any]]:
    rng = random.Random(16)
    persons = [(f"user-{n}", str(uuid.UUID(int=rng.getrandbits(128)))) for n in range(40)]
    rows = []
    for _ in range(1500):
        distinct_id, person_id = rng.choice(persons[: rng.choice([10, 25, 40])])  # some persons far more active
        moment = START + timedelta(seconds=rng.randrange(HOURS * 3600))
        event = rng.choice(["$pageview", "$pageview", "$pageview", "purchase", "signup", "click"])
        revenue = rng.choice([None, None, 0.0, 9.5, 20.0, -5.0]) if event == "purchase" else None
        plan = rng.choice(PLANS)
        rows.append(
            event_row(
                project_id,
                event=event,
                distinct_id=distinct_id,
                person_id=person_id,
                timestamp=moment,
                received_at=moment,
                url=rng.choice(URLS),
                referrer=rng.choice(REFERRERS),
                revenue=revenue,
                properties={"plan": plan} if plan else {},
            )
        )
    return rows


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> dict[str, Any]:
    projects = {}
    rows: list[dict[str, Any]] = []
    for zone in ZONES:
        project_id = new_project_id()
        rows = generate(project_id)
        clickhouse_store.insert_events(rows, dedup_token=f"presets-{project_id}")
        projects[zone] = project_id
    return {"projects": projects, "rows": rows}


def answer(loaded: dict[str, Any], zone: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
    query = validate_preset(kind, body, time_zone=zone, now=NOW)
    return run_preset(project_id=loaded["projects"][zone], query=query)


def local_day(row: dict[str, Any], zone: ZoneInfo) -> date:
    return row["timestamp"].astimezone(zone).date()


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def in_range(rows: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [row for row in rows if start <= row["timestamp"] < end]


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("event", [None, "$pageview"])
def test_active_users_match_the_python_model(loaded, zone_name, event):
    zone = ZoneInfo(zone_name)
    rows = [row for row in loaded["rows"] if event is None or row["event"] == event]
    active: dict[date, set[str]] = defaultdict(set)
    for row in rows:
        active[local_day(row, zone)].add(row["person_id"])

    def window(day: date, days: int) -> set[str]:
        return set().union(*(active[day - timedelta(days=back)] for back in range(days)))

    result = answer(loaded, zone_name, "active_users", {"from": "2026-03-20", "to": "2026-04-05", "event": event})

    expected = []
    day = date(2026, 3, 20)
    while day <= date(2026, 4, 5):
        dau, wau, mau = len(active[day]), len(window(day, 7)), len(window(day, 30))
        expected.append(
            {
                "bucket": midnight(day, zone).isoformat(),
                "dau": dau,
                "wau": wau,
                "mau": mau,
                "stickiness": dau / mau if mau else None,
            }
        )
        day += timedelta(days=1)
    assert result["points"] == expected
    assert any(point["mau"] > point["wau"] > point["dau"] > 0 for point in expected)
    if zone_name == "Europe/Berlin":
        assert result["points"][9]["bucket"] == "2026-03-29T00:00:00+01:00"
        assert result["points"][10]["bucket"] == "2026-03-30T00:00:00+02:00"


def _buckets(start: date, end: date, interval: str) -> list[date]:
    """Local bucket starts (dates) from the one holding ``start`` to the one holding ``end``."""

    def floor(day: date) -> date:
        if interval == "week":
            return day - timedelta(days=day.weekday())
        if interval == "month":
            return day.replace(day=1)
        return day

    out, bucket = [], floor(start)
    while bucket <= floor(end):
        out.append(bucket)
        bucket = _next(bucket, interval)
    return out


def _next(bucket: date, interval: str) -> date:
    if interval == "day":
        return bucket + timedelta(days=1)
    if interval == "week":
        return bucket + timedelta(days=7)
    return (bucket.replace(day=28) + timedelta(days=4)).replace(day=1)


def _previous(bucket: date, interval: str) -> date:
    if interval == "day":
        return bucket - timedelta(days=1)
    if interval == "week":
        return bucket - timedelta(days=7)
    return (bucket - timedelta(days=1)).replace(day=1)


def _bucket_of(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("interval", ["day", "week", "month"])
def test_lifecycle_matches_the_python_model(loaded, zone_name, interval):
    zone = ZoneInfo(zone_name)
    rows = [row for row in loaded["rows"] if row["event"] == "$pageview"]
    first_seen: dict[str, date] = {}
    active: dict[date, set[str]] = defaultdict(set)
    for row in rows:
        bucket = _bucket_of(local_day(row, zone), interval)
        active[bucket].add(row["person_id"])
        first_seen[row["person_id"]] = min(first_seen.get(row["person_id"], bucket), bucket)
    buckets = _buckets(date(2026, 3, 10), date(2026, 4, 15), interval)
    expected = []
    for bucket in buckets:
        previous = active[_previous(bucket, interval)]
        now_active = active[bucket]
        new = {p for p in now_active if first_seen[p] == bucket}
        expected.append(
            {
                "bucket": midnight(bucket, zone).isoformat(),
                "new": len(new),
                "returning": len((now_active - new) & previous),
                "resurrecting": len(now_active - new - previous),
                "dormant": len(previous - now_active),
            }
        )

    result = answer(
        loaded,
        zone_name,
        "lifecycle",
        {"from": "2026-03-10", "to": "2026-04-15", "interval": interval, "event": "$pageview"},
    )

    assert result["points"] == expected
    totals = Counter()
    for point in expected:
        totals.update({key: value for key, value in point.items() if key != "bucket"})
    assert all(totals[status] > 0 for status in ("returning", "dormant"))
    if interval == "day":
        assert totals["resurrecting"] > 0


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("interval", ["day", "week"])
def test_stickiness_matches_the_python_model(loaded, zone_name, interval):
    zone = ZoneInfo(zone_name)
    start, end = midnight(date(2026, 3, 23), zone), midnight(date(2026, 4, 6), zone)
    per_person: dict[str, set[date]] = defaultdict(set)
    for row in in_range(loaded["rows"], start, end):
        if filter_matches(row, [{"key": "plan", "operator": "eq", "value": "pro"}]):
            per_person[row["person_id"]].add(_bucket_of(local_day(row, zone), interval))
    histogram = Counter(len(days) for days in per_person.values())
    buckets = 14 if interval == "day" else 2

    result = answer(
        loaded,
        zone_name,
        "stickiness",
        {
            "from": "2026-03-23",
            "to": "2026-04-05",
            "interval": interval,
            "filters": [{"key": "plan", "operator": "eq", "value": "pro"}],
        },
    )

    assert result["buckets"] == buckets
    assert result["points"] == [{"active": n, "persons": histogram.get(n, 0)} for n in range(1, buckets + 1)]
    assert result["persons"] == len(per_person) > 0


@pytest.mark.parametrize("zone_name", ZONES)
def test_revenue_matches_the_python_model(loaded, zone_name):
    zone = ZoneInfo(zone_name)
    start, end = midnight(date(2026, 3, 25), zone), midnight(date(2026, 4, 2), zone)
    rows = [row for row in in_range(loaded["rows"], start, end) if row["revenue"] is not None]
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_day[local_day(row, zone)].append(row)

    def summary(group: list[dict[str, Any]]) -> tuple[float, int]:
        return sum(row["revenue"] for row in group), len({row["person_id"] for row in group if row["revenue"] > 0})

    result = answer(
        loaded,
        zone_name,
        "revenue",
        {"from": "2026-03-25", "to": "2026-04-01", "breakdown": {"key": "plan", "limit": 2}},
    )

    revenue, paying, per_paying = result["series"]
    day, index = date(2026, 3, 25), 0
    while day < date(2026, 4, 2):
        total, payers = summary(by_day[day])
        assert revenue["points"][index] == {"bucket": midnight(day, zone).isoformat(), "value": pytest.approx(total)}
        assert paying["points"][index]["value"] == payers
        assert per_paying["points"][index]["value"] == (pytest.approx(total / payers) if payers else None)
        day, index = day + timedelta(days=1), index + 1
    assert len(revenue["points"]) == 8
    total, payers = summary(rows)
    assert revenue["total"] == pytest.approx(total)
    assert paying["total"] == payers > 0
    assert per_paying["total"] == pytest.approx(total / payers)
    per_plan: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        per_plan[row["properties"].get("plan", "")].append(row)
    ranked = sorted(per_plan, key=lambda plan: (-summary(per_plan[plan])[0], plan))
    top, rest = ranked[:2], [row for plan in ranked[2:] for row in per_plan[plan]]
    expected = [(plan or None, *summary(per_plan[plan])) for plan in top] + [("$other", *summary(rest))]
    assert [
        (row["value"], pytest.approx(row["revenue"]), row["paying_users"]) for row in result["breakdown"]
    ] == expected
    assert result["breakdown"][-1]["is_other"] is True


def _page(row: dict[str, Any]) -> str | None:
    return (urlsplit(row["url"]).path or "/") if row["url"] else None


def _referrer(row: dict[str, Any]) -> str:
    return urlsplit(row["referrer"]).hostname or "$direct" if row["referrer"] else "$direct"


TOP_CASES: list[tuple[str, Callable[[dict[str, Any]], str | None], str | None]] = [
    ("top_events", lambda row: row["event"], None),
    ("top_pages", _page, "$pageview"),
    ("top_referrers", _referrer, "$pageview"),
]


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize(("kind", "value_of", "event"), TOP_CASES, ids=[case[0] for case in TOP_CASES])
def test_top_lists_match_the_python_model(loaded, zone_name, kind, value_of, event):
    zone = ZoneInfo(zone_name)
    start, end = midnight(date(2026, 3, 1), zone), midnight(date(2026, 3, 31), zone)
    rows = [row for row in in_range(loaded["rows"], start, end) if event is None or row["event"] == event]
    values: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        value = value_of(row)
        if value is not None:
            values[value].append(row)
    ranked = sorted(values, key=lambda value: (-len(values[value]), value))[:3]

    result = answer(loaded, zone_name, kind, {"from": "2026-03-01", "to": "2026-03-30", "limit": 3})

    assert result["results"] == [
        {"value": value, "events": len(values[value]), "persons": len({row["person_id"] for row in values[value]})}
        for value in ranked
    ]
    counted = [row for group in values.values() for row in group]
    assert result["total"] == {"events": len(counted), "persons": len({row["person_id"] for row in counted})}
    assert len(values) > 3


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("lifecycle", {"interval": "hour"}, "interval"),
        ("stickiness", {"from": "all"}, "from"),
        ("active_users", {"from": "2026-04-10", "to": "2026-04-01"}, "from"),
        ("top_pages", {"limit": 0}, "limit"),
        ("revenue", {"breakdown": {"key": "plan", "limit": 51}}, "breakdown"),
        ("revenue", {"interval": "minute", "from": "-90d"}, "from"),
        ("top_events", {"filters": [{"key": "p", "operator": "regex", "value": "(x"}]}, "filters"),
    ],
)
def test_bad_preset_input_names_the_field(kind, body, field):
    with pytest.raises(serializers.ValidationError) as raised:
        validate_preset(kind, body, time_zone="Europe/Berlin", now=NOW)

    assert field in raised.value.detail
