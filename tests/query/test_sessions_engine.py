"""Sessionisation at query time against an independent Python sessionisation of the same events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.query.sessions import list_sessions
from tests.query.sessions_reference import describe, generate_web, session_groups
from tests.warehouse.helpers import event_row, new_project_id

BERLIN = "Europe/Berlin"
# Spring forward in Berlin: 2026-03-29 02:00 local becomes 03:00; local midnights around it
# are 2026-03-28T23:00Z (+01:00) and 2026-03-29T22:00Z (+02:00).
START = datetime(2026, 3, 28, 18, tzinfo=UTC)
END = datetime(2026, 3, 30, 6, tzinfo=UTC)


def _project(project_id: int, *, timeout: int = 30, split: bool = True, time_zone: str = BERLIN) -> Any:
    return SimpleNamespace(
        id=project_id, timezone=time_zone, session_timeout_minutes=timeout, session_split_at_midnight=split
    )


def _all_sessions(project: Any, start: datetime, end: datetime, **options: Any) -> list[dict[str, Any]]:
    sessions, cursor = [], None
    while True:
        page = list_sessions(project=project, date_from=start, date_to=end, cursor=cursor, **options)
        sessions.extend(page["results"])
        cursor = page["next_cursor"]
        if cursor is None:
            return sessions


def _expected(rows: list[dict[str, Any]], project: Any, start: datetime, end: datetime) -> list[dict[str, Any]]:
    groups = session_groups(
        rows,
        time_zone=project.timezone,
        timeout_minutes=project.session_timeout_minutes,
        split=project.session_split_at_midnight,
        start=start,
        end=end,
    )
    zone = ZoneInfo(project.timezone)
    sessions = [describe(key, events, zone) for key, events in groups.items()]
    # Newest first by start, then key descending (the API's order).
    sessions.sort(key=lambda s: (datetime.fromisoformat(s["start"]), s["session_key"]), reverse=True)
    return sessions


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> tuple[int, list[dict[str, Any]]]:
    project_id = new_project_id()
    rows = generate_web(project_id, start=START, persons=12, events_per_person=60)
    clickhouse_store.insert_events(rows, dedup_token=f"sessions-engine-{project_id}")
    return project_id, rows


@pytest.mark.parametrize(
    ("timeout", "split", "time_zone"),
    [(30, True, BERLIN), (30, False, BERLIN), (1, True, "America/New_York"), (1440, True, BERLIN)],
)
def test_sessions_match_the_python_sessionisation(loaded, timeout, split, time_zone):
    project_id, rows = loaded
    project = _project(project_id, timeout=timeout, split=split, time_zone=time_zone)

    sessions = _all_sessions(project, START, END, limit=37)

    expected = _expected(rows, project, START, END)
    assert len(sessions) == len(expected) > 20
    assert sessions == expected


def test_a_range_cuts_sessions_at_its_edges(loaded):
    project_id, rows = loaded
    project = _project(project_id)
    start, end = START + timedelta(hours=7, minutes=13), END - timedelta(hours=9)

    sessions = _all_sessions(project, start, end, limit=200)

    assert sessions == _expected(rows, project, start, end)


def test_one_persons_sessions_by_distinct_id(loaded):
    project_id, rows = loaded
    project = _project(project_id)
    person_id = next(row["person_id"] for row in rows if row["distinct_id"] == "user-3-1")

    sessions = _all_sessions(project, START, END, limit=5, distinct_id="user-3-1")

    expected = [s for s in _expected(rows, project, START, END) if s["person_id"] == person_id]
    assert sessions == expected
    assert len(expected) > 2


def _at(*parts: int, ms_: int = 0) -> datetime:
    return datetime(*parts, tzinfo=UTC) + timedelta(milliseconds=ms_)


def test_timeout_edge_midnight_split_client_ids_and_bounces(store):
    """Hand-made cases, each with the session keys the rules give."""
    project_id = new_project_id()
    person, other = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"
    t0 = _at(2026, 3, 29, 10)
    moments = [
        t0,  # session A starts
        t0 + timedelta(minutes=30),  # exactly the timeout later: still A
        t0 + timedelta(minutes=60, milliseconds=1),  # one ms over: session B
    ]
    rows = [event_row(project_id, event="$pageview", person_id=person, timestamp=m, received_at=m) for m in moments]
    # Across local midnight in Berlin (22:00Z is 00:00 +02:00 after the spring change): C then D.
    before_midnight, after_midnight = _at(2026, 3, 29, 21, 59, 59), _at(2026, 3, 29, 22, 0, 1)
    rows += [
        event_row(project_id, event="$pageview", person_id=other, timestamp=m, received_at=m)
        for m in (before_midnight, after_midnight)
    ]
    # A client session id spans the midnight and an hour-long gap, and interrupts nothing.
    client = [_at(2026, 3, 29, 21, 0), _at(2026, 3, 29, 22, 30)]
    rows += [
        event_row(project_id, event="click", person_id=other, session_id="tab-1", timestamp=m, received_at=m)
        for m in client
    ]
    store.insert_events(rows, dedup_token=f"sessions-edges-{project_id}")

    sessions = _all_sessions(_project(project_id), _at(2026, 3, 29), _at(2026, 3, 30), limit=50)

    by_key = {s["session_key"]: s for s in sessions}
    key_a, key_b = f"p:{person}:{int(t0.timestamp() * 1000)}", f"p:{person}:{int(moments[2].timestamp() * 1000)}"
    key_c = f"p:{other}:{int(before_midnight.timestamp() * 1000)}"
    key_d = f"p:{other}:{int(after_midnight.timestamp() * 1000)}"
    assert set(by_key) == {key_a, key_b, key_c, key_d, "c:tab-1"}
    assert by_key[key_a]["event_count"] == 2
    assert by_key[key_a]["duration_seconds"] == 1800
    assert by_key[key_a]["is_bounce"] is False  # two pageviews
    assert by_key[key_b]["is_bounce"] is True  # one pageview, 0 s
    assert by_key["c:tab-1"]["event_count"] == 2
    assert by_key["c:tab-1"]["pageviews"] == 0
    assert by_key["c:tab-1"]["is_bounce"] is False  # no pageview: not a bounce
    assert by_key[key_d]["start"] == "2026-03-30T00:00:01.000+02:00"

    # Without the midnight split C and D are one session; a 90-minute timeout joins A and B.
    joined = _all_sessions(_project(project_id, timeout=90, split=False), _at(2026, 3, 29), _at(2026, 3, 30))
    assert {s["session_key"] for s in joined} == {key_a, key_c, "c:tab-1"}


@pytest.mark.parametrize(("gap_ms", "bounce"), [(9_999, True), (10_000, False)])
def test_bounce_means_one_pageview_under_ten_seconds(store, gap_ms, bounce):
    project_id = new_project_id()
    t0 = _at(2026, 5, 4, 12)
    rows = [
        event_row(project_id, event="$pageview", timestamp=t0, received_at=t0, person_id=str(uuid_for(1))),
        event_row(
            project_id,
            event="click",
            timestamp=t0 + timedelta(milliseconds=gap_ms),
            received_at=t0,
            person_id=str(uuid_for(1)),
        ),
    ]
    store.insert_events(rows, dedup_token=f"sessions-bounce-{project_id}")

    (session,) = _all_sessions(_project(project_id), _at(2026, 5, 4), _at(2026, 5, 5))

    assert session["is_bounce"] is bounce
    assert session["duration_seconds"] == gap_ms / 1000


def uuid_for(number: int) -> str:
    return f"00000000-0000-4000-8000-{number:012d}"


def test_a_client_session_id_shared_by_two_persons_is_one_session(store):
    """E.g. an anonymous person identified mid-session: the client's id keeps the visit whole."""
    project_id = new_project_id()
    t0 = _at(2026, 5, 4, 12)
    rows = [
        event_row(
            project_id,
            event="$pageview",
            person_id=uuid_for(n),
            distinct_id=f"d{n}",
            session_id="tab-9",
            timestamp=t0 + timedelta(minutes=n),
            received_at=t0,
        )
        for n in (1, 2)
    ]
    rows.append(event_row(project_id, event="$pageview", person_id=uuid_for(2), timestamp=t0, received_at=t0))
    store.insert_events(rows, dedup_token=f"sessions-shared-{project_id}")

    first_page = list_sessions(
        project=_project(project_id), date_from=_at(2026, 5, 4), date_to=_at(2026, 5, 5), limit=1
    )
    everything = _all_sessions(_project(project_id), _at(2026, 5, 4), _at(2026, 5, 5), limit=1)

    (shared,) = first_page["results"]
    assert shared["session_key"] == "c:tab-9"
    assert shared["event_count"] == 2
    assert shared["person_id"] == uuid_for(1)  # the entry event's
    assert shared["duration_seconds"] == 60
    assert [s["event_count"] for s in everything] == [2, 1]


@pytest.mark.parametrize(
    ("time_zone", "midnight"),
    [
        ("Europe/Berlin", _at(2026, 10, 25, 23)),  # 2026-10-26T00:00+01:00, after the autumn change
        ("America/New_York", _at(2026, 11, 2, 5)),  # 2026-11-02T00:00-05:00, after the US change
        ("Australia/Lord_Howe", _at(2026, 4, 4, 13)),  # 2026-04-05T00:00+11:00, on the half-hour change day
    ],
)
def test_the_midnight_split_follows_the_local_midnight_after_a_dst_change(store, time_zone, midnight):
    project_id = new_project_id()
    moments = [midnight - timedelta(seconds=1), midnight, midnight + timedelta(minutes=5)]
    rows = [
        event_row(project_id, event="$pageview", person_id=uuid_for(3), timestamp=m, received_at=m) for m in moments
    ]
    store.insert_events(rows, dedup_token=f"sessions-dst-{project_id}")
    window = (midnight - timedelta(days=1), midnight + timedelta(days=1))

    split = _all_sessions(_project(project_id, time_zone=time_zone), *window)
    whole = _all_sessions(_project(project_id, time_zone=time_zone, split=False), *window)

    assert [s["event_count"] for s in split] == [2, 1]  # newest first
    assert split[0]["start"].startswith(midnight.astimezone(ZoneInfo(time_zone)).date().isoformat() + "T00:00:00")
    assert [s["event_count"] for s in whole] == [3]
