"""The load generator's scenarios: encoded events that the API accepts as they are, fresh ids."""

from __future__ import annotations

import tempfile
import uuid
from collections import defaultdict

import numpy as np

from analytics.loadgen.scenarios import SCENARIOS, event_chunks, iso_strings, sessions_per_chunk
from analytics.loadgen.sender import SendPlan, _Feed


def test_web_sessions_are_page_views_then_signup_then_purchase_and_ids_match_the_ledger_bytes() -> None:
    chunk = SCENARIOS["web"](7, 500).chunk(sessions=400)
    events = chunk.events()

    assert [uuid.UUID(event["event_id"]).bytes for event in events] == [bytes(row) for row in chunk.ids]
    assert {uuid.UUID(event["event_id"]).version for event in events} == {4}
    by_session: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_session[event["properties"]["$session_id"]].append(event)
    assert len(by_session) == 400
    for session in by_session.values():
        names = [event["event"] for event in session]
        views = names.count("$pageview")
        assert 1 <= views <= 8
        assert names[:views] == ["$pageview"] * views
        assert names[views:] in ([], ["signup"], ["signup", "purchase"])
        assert len({event["distinct_id"] for event in session}) == 1
        assert [event["timestamp"] for event in session[:views]] == list(
            range(session[0]["timestamp"], session[0]["timestamp"] + views)
        )
        if "purchase" in names:
            purchase = session[-1]["properties"]
            assert purchase["revenue"] in (9.0, 29.0, 99.0)
            assert purchase["currency"] == "EUR"
        assert session[0]["properties"]["$current_url"].endswith(session[0]["properties"]["path"])
    assert {"signup", "purchase"} <= {event["event"] for event in events}


def test_telecom_actions_carry_the_schema_properties_and_visitors_come_back() -> None:
    scenario = SCENARIOS["telecom"](3, 200)
    events = scenario.chunk(sessions=300).events() + scenario.chunk(sessions=300).events()

    assert {event["event"] for event in events} == {"CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA"}
    for event in events:
        properties = event["properties"]
        assert properties["started_at"].endswith("Z")
        assert properties["meta"]["cell"].startswith("cell-")
        timed = event["event"] in ("CALL_OUT", "CALL_IN", "DATA")
        assert ("duration_sec" in properties) == timed
        assert ("ended_at" in properties) == timed
        assert ("bytes_up" in properties) == (event["event"] == "DATA")
    assert len({event["event_id"] for event in events}) == len(events)
    # 200 possible users over 600 sessions: users return.
    assert len({event["distinct_id"] for event in events}) <= 200


def test_iso_strings_are_utc_with_milliseconds() -> None:
    assert iso_strings(np.array([0, 1_795_498_564_054])) == [b"1970-01-01T00:00:00.000Z", b"2026-11-24T05:36:04.054Z"]


def test_a_worker_feed_hands_out_exactly_its_quota_in_batches() -> None:
    plan = SendPlan(
        scenario="web",
        target="http://127.0.0.1:1",
        write_key="wk",
        events=2_501,
        duration=None,
        rate=0,
        users=100,
        workers=2,
        threads=1,
        batch_size=100,
        ledger_dir=tempfile.gettempdir(),
        seed=1,
    )
    feed = _Feed(plan, worker=0)
    sizes, ids = [], []
    while True:
        events, batch_ids = feed.next()
        if not events:
            break
        assert len(events) == len(batch_ids)
        sizes.append(len(events))
        ids.extend(bytes(row) for row in batch_ids)
    assert sum(sizes) == 1_251
    assert max(sizes) == 100
    assert len(set(ids)) == 1_251


def test_chunks_last_about_two_seconds_of_sending_so_events_are_not_stamped_minutes_early() -> None:
    slow = next(event_chunks("web", seed=1, users=100, rate=50))
    fast = next(event_chunks("web", seed=1, users=100, rate=None))
    assert len(slow) <= 4 * 50  # at 50 events/s: a few seconds' worth, not thousands
    assert len(fast) > 5_000
    assert sessions_per_chunk(1) >= 1
    assert sessions_per_chunk(1e9) == sessions_per_chunk(None)
