"""The pages' selectors against an independent computation in plain Python over the same
generated events (whole-second times, so second differences are exact)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from analytics.dashboards.queries import overview, users, web
from tests.dashboards.conftest import iso, store_events
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db

END = datetime(2026, 11, 20, tzinfo=UTC)
START = END - timedelta(days=10)
TIMEOUT = 30 * 60
PAGES = ("/", "/pricing", "/docs", "/blog")
REFERRERS = ("", "https://www.google.com/search", "https://news.example.org/item")
NAMES = ("signup", "purchase", "$identify", "CALL_OUT", "DATA", "$autocapture")


def generate(seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for person in range(12):
        moment = START - timedelta(days=1) + timedelta(seconds=rng.randrange(86_400))
        for _ in range(rng.randrange(3, 9)):  # visits
            session = f"c{person}-{len(events)}" if rng.random() < 0.3 else None
            referrer = rng.choice(REFERRERS)
            for step in range(rng.randrange(1, 6)):
                moment += timedelta(seconds=rng.choice((1, 5, 9, 60, 300, TIMEOUT)))
                is_page = rng.random() < 0.7
                properties: dict[str, Any] = {"$referrer": referrer} if step == 0 else {}
                if is_page:
                    utm = "?utm_source=mail" if rng.random() < 0.3 else ""
                    properties["$current_url"] = "https://site.test" + rng.choice(PAGES) + utm
                if session:
                    properties["$session_id"] = session
                events.append(
                    {
                        "event": "page_view" if is_page else rng.choice(NAMES),
                        "distinct_id": f"person-{person}",
                        "timestamp": iso(moment.replace(microsecond=0)),
                        "properties": properties,
                    }
                )
            moment += timedelta(seconds=rng.choice((TIMEOUT + 1, 7200, 86_400)))
    return events


@pytest.fixture
def world(store: Any) -> tuple[Any, list[dict[str, Any]]]:
    _, project = member_with_project()
    events = generate()
    store_events(project, events)
    rows = []
    for event in events:
        rows.append({**event, "ts": datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))})
    return project, rows


def in_range(rows: list[dict[str, Any]], start: datetime = START, end: datetime = END) -> list[dict[str, Any]]:
    return [row for row in rows if start <= row["ts"] < end]


def sessions_of(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The page's session rule, written independently: client ids win; otherwise a gap over
    the timeout (measured between a person's consecutive events of any kind) starts a new one."""
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_person[row["distinct_id"]].append(row)
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for person, items in by_person.items():
        items.sort(key=lambda row: row["ts"])
        counter, previous = 0, None
        for row in items:
            if previous is not None and (row["ts"] - previous).total_seconds() > TIMEOUT:
                counter += 1
            previous = row["ts"]
            client = row["properties"].get("$session_id")
            sessions[f"s:{client}" if client else f"p:{person}:{counter}"].append(row)
    return sessions


def kind(name: str) -> str:
    if name in ("$pageview", "page_view", "$screen"):
        return "Page views"
    if name in ("$identify", "$alias", "$set", "$groupidentify", "$create_alias"):
        return "Identify"
    if name in overview.NETWORK_ACTIONS:
        return "Network actions"
    return "Other automatic" if name.startswith("$") else "Custom events"


def test_totals_top_events_kinds_and_top_users(world: tuple[Any, list[dict[str, Any]]]) -> None:
    project, rows = world
    chosen = in_range(rows)
    assert overview.event_totals(project_id=project.id, start=START, end=END) == {
        "events": len(chosen),
        "users": len({row["distinct_id"] for row in chosen}),
    }
    names = Counter(row["event"] for row in chosen)
    top = overview.top_events(project_id=project.id, start=START, end=END, limit=50)
    assert [(item["event"], item["events"]) for item in top] == sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))
    kinds = Counter(kind(row["event"]) for row in chosen)
    assert {
        item["kind"]: item["events"] for item in overview.events_by_type(project_id=project.id, start=START, end=END)
    } == kinds
    per_user = Counter(row["distinct_id"] for row in chosen)
    answer = overview.top_users(project_id=project.id, start=START, end=END, limit=5)
    assert [item["events"] for item in answer] == sorted(per_user.values(), reverse=True)[:5]
    assert all(per_user[item["distinct_id"]] == item["events"] for item in answer)


def test_active_users_and_sessions(world: tuple[Any, list[dict[str, Any]]]) -> None:
    project, rows = world
    expected = {
        name: len({row["distinct_id"] for row in in_range(rows, END - timedelta(days=days), END)})
        for name, days in (("dau", 1), ("wau", 7), ("mau", 30))
    }
    assert overview.active_users(project_id=project.id, end=END) == expected

    sessions = sessions_of(in_range(rows))
    lengths = [
        (max(r["ts"] for r in items) - min(r["ts"] for r in items)).total_seconds() for items in sessions.values()
    ]
    stats = overview.session_stats(project_id=project.id, start=START, end=END, timeout_minutes=30)
    assert stats["sessions"] == len(sessions)
    assert stats["avg_seconds"] == pytest.approx(sum(lengths) / len(lengths))


def test_web_summary_and_breakdowns(world: tuple[Any, list[dict[str, Any]]]) -> None:
    project, rows = world
    visits = {
        key: items
        for key, items in sessions_of(in_range(rows)).items()
        if any(r["event"] == "page_view" for r in items)
    }

    def path(row: dict[str, Any]) -> str:
        return urlsplit(row["properties"].get("$current_url", "")).path

    def seconds(items: list[dict[str, Any]]) -> float:
        return (max(r["ts"] for r in items) - min(r["ts"] for r in items)).total_seconds()

    pageviews = sum(1 for items in visits.values() for r in items if r["event"] == "page_view")
    bounces = sum(
        1 for items in visits.values() if sum(r["event"] == "page_view" for r in items) <= 1 and seconds(items) < 10
    )
    summary = web.web_summary(project=project, date_from=START, date_to=END)
    assert summary["visitors"] == len({items[0]["distinct_id"] for items in visits.values()})
    assert summary["pageviews"] == pageviews
    assert summary["sessions"] == len(visits)
    assert summary["bounce_rate"] == pytest.approx(bounces / len(visits))
    assert summary["avg_visit_seconds"] == pytest.approx(sum(seconds(i) for i in visits.values()) / len(visits))

    pages: dict[str, set[str]] = defaultdict(set)
    views: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for items in visits.values():
        ordered = sorted(items, key=lambda r: r["ts"])
        viewed = [r for r in ordered if r["event"] == "page_view"]
        entries[path(viewed[0])] += 1
        first = ordered[0]
        source = parse_qs(urlsplit(first["properties"].get("$current_url", "")).query).get("utm_source", [""])[0]
        sources[source] += 1
        for row in viewed:
            pages[path(row)].add(row["distinct_id"])
            views[path(row)] += 1
    breakdown = web.web_breakdown(project=project, date_from=START, date_to=END, dimension="page", limit=50)
    assert {row["value"]: (row["visitors"], row["pageviews"]) for row in breakdown} == {
        page: (len(people), views[page]) for page, people in pages.items()
    }
    entry = web.web_breakdown(project=project, date_from=START, date_to=END, dimension="entry_page", limit=50)
    assert sum(row["visitors"] > 0 for row in entry) == len(entries)
    utm = web.web_breakdown(project=project, date_from=START, date_to=END, dimension="utm_source", limit=50)
    assert {row["value"] for row in utm} == set(sources)

    filtered = web.web_summary(project=project, date_from=START, date_to=END, filters=[("page", "/docs")])
    with_docs = [
        items for items in visits.values() if any(path(r) == "/docs" for r in items if r["event"] == "page_view")
    ]
    assert filtered["sessions"] == len(with_docs)


def test_user_timeline_pages_without_gaps_or_repeats(world: tuple[Any, list[dict[str, Any]]]) -> None:
    project, rows = world
    person = users.resolve_person(project_id=project.id, distinct_id="person-3")
    assert person is not None
    seen: list[str] = []
    cursor = None
    while True:
        page = users.user_timeline(project_id=project.id, person_id=person, before=cursor, limit=4)
        if not page:
            break
        seen.extend(item["event_id"] for item in page)
        cursor = (page[-1]["ms"], page[-1]["event_id"])
    mine = [row for row in rows if row["distinct_id"] == "person-3"]
    assert len(seen) == len(set(seen)) == len(mine)
    daily = users.user_totals(project_id=project.id, person_id=person, interval="day", time_zone="UTC")
    expected = Counter(row["ts"].date().isoformat() for row in mine)
    assert {item["bucket"]: item["events"] for item in daily} == expected
    assert users.resolve_person(project_id=project.id, distinct_id="nobody") is None
