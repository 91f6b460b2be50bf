"""The pages' selectors against an independent computation in plain Python over the same
generated events (whole-second times, so second differences are exact)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.dashboards.queries import overview, users
from analytics.query.compiler.params import Params
from analytics.query.compiler.sessions import SessionRules, sessions_sql
from analytics.query.model import DateRange
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store
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
        moment = START - timedelta(days=11) + timedelta(seconds=rng.randrange(16 * 86_400))
        for _ in range(rng.randrange(4, 12)):  # visits
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
    """The query engine's session rules, written independently: a client id is one session;
    a person's other events, in time order, start a new session after a gap over the timeout
    or on a new (UTC) day."""
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        client = row["properties"].get("$session_id")
        if client:
            sessions[f"c:{client}"].append(row)
        else:
            chains[row["distinct_id"]].append(row)
    for person, items in chains.items():
        items.sort(key=lambda row: row["ts"])
        counter, previous = 0, None
        for row in items:
            if previous is not None and (
                (row["ts"] - previous).total_seconds() > TIMEOUT or row["ts"].date() != previous.date()
            ):
                counter += 1
            previous = row["ts"]
            sessions[f"p:{person}:{counter}"].append(row)
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
    assert overview.event_count(project_id=project.id, start=START, end=END) == len(chosen)
    before = DateRange(START - (END - START), START)
    earlier = in_range(rows, before.start, before.end)
    numbers = overview.key_numbers(
        project_id=project.id, current=DateRange(START, END), previous=before, active_end=END
    )
    assert numbers["current"] == {"events": len(chosen), "users": len({row["distinct_id"] for row in chosen})}
    assert numbers["previous"] == {"events": len(earlier), "users": len({row["distinct_id"] for row in earlier})}
    names = Counter(row["event"] for row in chosen)
    kinds = Counter(kind(row["event"]) for row in chosen)
    expected_kinds = sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    by_name = sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))
    for limit in (1, 3, 50):  # a short list still counts every name into its kind
        top, by_kind = overview.event_breakdown(project_id=project.id, start=START, end=END, limit=limit)
        assert [(item["event"], item["events"]) for item in top] == by_name[:limit]
        assert [(item["kind"], item["events"]) for item in by_kind] == expected_kinds
    users_of = defaultdict(set)
    for row in chosen:
        users_of[row["event"]].add(row["distinct_id"])
    assert all(item["users"] == len(users_of[item["event"]]) for item in top)
    per_user = Counter(row["distinct_id"] for row in chosen)
    answer = overview.top_users(project_id=project.id, start=START, end=END, limit=5)
    assert [item["events"] for item in answer] == sorted(per_user.values(), reverse=True)[:5]
    assert all(per_user[item["distinct_id"]] == item["events"] for item in answer)


def test_top_users_order_ties_by_person_id(store: Any) -> None:
    """Every cut of the list (ties at the cut included) is the plain ranking's prefix: most
    events first, ties by the person id as text; last seen is the person's last event."""
    _, project = member_with_project()
    rng = random.Random(3)
    counts = [3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 5]
    events = []
    for person, count in enumerate(counts):
        for _ in range(count):
            moment = START + timedelta(seconds=rng.randrange(int((END - START).total_seconds())))
            events.append({"event": "seen", "distinct_id": f"tie-{person}", "timestamp": iso(moment)})
    events.append({"event": "seen", "distinct_id": "tie-0", "timestamp": iso(END + timedelta(hours=1))})  # outside
    store_events(project, events)
    person_of = {
        row["distinct_id"]: row["person"]
        for row in get_store()
        .query(
            Query(
                name="test.persons",
                sql="SELECT DISTINCT distinct_id, toString(person_id) AS person FROM events"
                " WHERE project_id = {project_id:UInt64}",
                params={"project_id": project.id},
            )
        )
        .dicts()
    }
    seen: dict[str, list[datetime]] = defaultdict(list)
    for event in events:
        moment = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
        if START <= moment < END:
            seen[event["distinct_id"]].append(moment)
    ranking = sorted(seen.items(), key=lambda item: (-len(item[1]), person_of[item[0]]))
    for limit in range(1, len(ranking) + 2):
        answer = overview.top_users(project_id=project.id, start=START, end=END, limit=limit)
        expected = [
            {
                "person_id": person_of[distinct_id],
                "distinct_id": distinct_id,
                "events": len(moments),
                "last_seen_ms": int(max(moments).timestamp() * 1000),
            }
            for distinct_id, moments in ranking[:limit]
        ]
        assert answer == expected, limit


def test_active_users_and_sessions(world: tuple[Any, list[dict[str, Any]]]) -> None:
    project, rows = world
    expected = {
        name: len({row["distinct_id"] for row in in_range(rows, END - timedelta(days=days), END)})
        for name, days in (("dau", 1), ("wau", 7), ("mau", 30))
    }
    before = DateRange(START - (END - START), START)
    numbers = overview.key_numbers(
        project_id=project.id, current=DateRange(START, END), previous=before, active_end=END
    )
    assert numbers["active"] == expected
    # Active users end where the page's range ends or now, whichever is first: another end.
    active_end = END - timedelta(days=3, hours=5)
    numbers = overview.key_numbers(
        project_id=project.id, current=DateRange(START, END), previous=before, active_end=active_end
    )
    assert numbers["active"] == {
        name: len({row["distinct_id"] for row in in_range(rows, active_end - timedelta(days=days), active_end)})
        for name, days in (("dau", 1), ("wau", 7), ("mau", 30))
    }

    stats = overview.session_stats(
        project_id=project.id, current=DateRange(START, END), previous=before, rules=SessionRules("UTC", 30, True)
    )
    for name, (start, end) in (("current", (START, END)), ("previous", (before.start, before.end))):
        sessions = sessions_of(in_range(rows, start, end))
        lengths = [(max(r["ts"] for r in rs) - min(r["ts"] for r in rs)).total_seconds() for rs in sessions.values()]
        assert stats[name]["sessions"] == len(sessions), name
        assert stats[name]["avg_seconds"] == pytest.approx(sum(lengths) / len(lengths)), name


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


def test_session_counts_agree_with_the_query_engines_cut(world: tuple[Any, list[dict[str, Any]]]) -> None:
    project, _ = world
    rules = SessionRules("UTC", 30, True)
    params = Params(project_id=project.id, start=START, end=END)
    sql = f"SELECT count() AS sessions, sum(duration_seconds) AS seconds FROM ({sessions_sql(params, rules)})"
    engine = get_store().query(Query(name="test.sessions", sql=sql, params=params.values)).dicts()[0]
    before = DateRange(START - (END - START), START)
    ours = overview.session_stats(project_id=project.id, current=DateRange(START, END), previous=before, rules=rules)
    assert ours["current"]["sessions"] == int(engine["sessions"])
    assert ours["current"]["avg_seconds"] == pytest.approx(float(engine["seconds"]) / int(engine["sessions"]))
