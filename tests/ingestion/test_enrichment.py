"""Enrichment: receive time, clock skew, future clamp, user agent, IP, hot columns, ids."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from django.test import override_settings

from analytics.ingestion.enrichment import anonymise_ip, client_ip, parse_user_agent
from analytics.warehouse.identity import person_id_for
from tests.factories import member_with_project
from tests.ingestion.conftest import event, stored

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_client_clock_two_hours_off_is_corrected_with_sent_at(project, post, store):
    skewed_now = datetime.now(UTC) + timedelta(hours=2)
    batch = {"sent_at": iso(skewed_now), "batch": [event(timestamp=iso(skewed_now - timedelta(seconds=30)))]}

    post(batch, key=project.write_key)

    row = stored(store, project.id)[0]
    expected = row["received_ms"] - 30_000
    assert abs(row["ts_ms"] - expected) < 1000
    assert abs(row["ts_ms"] - time.time() * 1000) < 60_000


def test_event_more_than_23_hours_ahead_is_clamped_and_flagged(project, post, store):
    post(event(timestamp=iso(datetime.now(UTC) + timedelta(days=3))), key=project.write_key)

    row = stored(store, project.id)[0]
    assert row["ts_ms"] == row["received_ms"]
    assert row["flags"] == ["future_clamped"]


def test_event_without_timestamp_gets_the_receive_time(project, post, store):
    post(event(), key=project.write_key)

    row = stored(store, project.id)[0]
    assert row["ts_ms"] == row["received_ms"]
    assert row["flags"] == []


def test_user_agent_gives_browser_os_and_device(project, post, store):
    post(event(), key=project.write_key, headers={"User-Agent": IPHONE})

    row = stored(store, project.id)[0]
    assert (row["browser"], row["os"], row["device_type"]) == ("Mobile Safari", "iOS", "Mobile")
    assert row["os_version"] == "17.1"


def test_user_agent_parsing_is_cached():
    parse_user_agent.cache_clear()
    parse_user_agent(FIREFOX)
    parse_user_agent(FIREFOX)

    assert parse_user_agent.cache_info().hits == 1
    assert parse_user_agent(FIREFOX)[0] == "Firefox"
    assert parse_user_agent(FIREFOX)[4] == "Desktop"


def test_ip_is_anonymised_by_default(project, post, store):
    post(event(), key=project.write_key, REMOTE_ADDR="203.0.113.77")

    assert stored(store, project.id)[0]["ip"] == "203.0.113.0"


def test_ipv6_keeps_only_the_first_48_bits():
    assert anonymise_ip("2001:db8:abcd:1234:5678:9abc:def0:1234") == "2001:db8:abcd::"


def test_project_can_keep_the_full_ip(db, store, post):
    _, project = member_with_project(keep_full_ip=True)
    post(event(), key=project.write_key, REMOTE_ADDR="203.0.113.77")

    assert stored(store, project.id)[0]["ip"] == "203.0.113.77"


def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(project, post, store):
    post(event(), key=project.write_key, REMOTE_ADDR="198.51.100.9", headers={"X-Forwarded-For": "8.8.8.8"})

    assert stored(store, project.id)[0]["ip"] == "198.51.100.0"


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_forwarded_for_from_a_trusted_proxy_names_the_client():
    assert client_ip("10.1.2.3", "8.8.4.4, 1.1.1.1, 10.9.9.9") == "1.1.1.1"
    assert client_ip("192.0.2.1", "1.1.1.1") == "192.0.2.1"


def test_hot_columns_come_from_properties(project, post, store):
    properties = {
        "$current_url": "https://shop.example/cart",
        "$referrer": "https://search.example/",
        "$session_id": "s-1",
        "revenue": "19.90",
        "$country": "DE",
        "$lib": "web",
        "$lib_version": "1.2",
    }
    post(event(properties=properties), key=project.write_key)

    row = stored(store, project.id)[0]
    assert (row["url"], row["referrer"], row["session_id"]) == (
        "https://shop.example/cart",
        "https://search.example/",
        "s-1",
    )
    assert (row["revenue"], row["country"], row["lib"], row["lib_version"]) == (19.9, "DE", "web", "1.2")
    assert row["retention_days"] == project.retention_days


def test_person_id_is_derived_from_project_and_distinct_id(project, post, store):
    post(event(distinct_id="alice"), key=project.write_key)

    row = stored(store, project.id)[0]
    assert row["person_id_text"] == person_id_for(project.id, "alice")
    assert person_id_for(project.id, "alice") != person_id_for(project.id + 1, "alice")


def test_resent_batch_without_ids_is_counted_once(project, post, store):
    batch = {"batch": [event("a", timestamp="2026-05-01T10:00:00Z", properties={"n": i}) for i in range(5)]}

    post(batch, key=project.write_key)
    post(batch, key=project.write_key)

    assert len(stored(store, project.id)) == 5


def test_resent_events_with_client_ids_are_counted_once(project, post, store):
    batch = {"batch": [event(event_id=str(uuid.uuid4())), event(event_id="client-42")]}

    post(batch, key=project.write_key)
    post(batch, key=project.write_key)

    rows = stored(store, project.id)
    assert len(rows) == 2
    assert all(str(uuid.UUID(row["event_id_text"])) == row["event_id_text"] for row in rows)


def test_non_uuid_client_ids_map_deterministically_per_project(project, post, store):
    post(event(event_id="client-42"), key=project.write_key)
    first = stored(store, project.id)[0]["event_id_text"]

    post(event(event_id="client-42", properties={"changed": True}), key=project.write_key)

    rows = stored(store, project.id)
    assert [row["event_id_text"] for row in rows] == [first]
