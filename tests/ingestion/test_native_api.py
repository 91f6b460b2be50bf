"""POST /api/v1/events: acceptance, partial acceptance, answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.ingestion.conftest import event, stored


def test_single_event_is_accepted_and_stored(project, post, store):
    response = post(event(properties={"plan": "pro"}), key=project.write_key)

    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": []}
    rows = stored(store, project.id)
    assert [(row["event"], row["distinct_id"]) for row in rows] == [("clicked", "user-1")]
    assert rows[0]["properties"] == '{"plan":"pro"}'


def test_batch_with_bad_events_accepts_the_good_ones(project, post, store):
    batch = [event(), {"distinct_id": "x"}, event(distinct_id=""), event("ok", user_id="u2"), "not an object"]
    batch[3].pop("distinct_id")

    response = post({"batch": batch}, key=project.write_key)

    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert [item["index"] for item in body["rejected"]] == [1, 2, 4]
    assert "event is required" in body["rejected"][0]["error"]
    assert sorted(row["distinct_id"] for row in stored(store, project.id)) == ["u2", "user-1"]


def test_user_id_is_a_synonym_of_distinct_id(project, post, store):
    post({"event": "e", "user_id": "abc"}, key=project.write_key)

    assert stored(store, project.id)[0]["distinct_id"] == "abc"


def test_write_key_in_body_for_send_beacon(project, post, store):
    response = post({"api_key": project.write_key, "batch": [event()]})

    assert response.status_code == 202
    assert len(stored(store, project.id)) == 1


def test_unknown_write_key_is_401(project, post):
    response = post(event(), key="wk_not-a-real-key")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_key"


def test_missing_write_key_is_401(project, post):
    assert post(event()).status_code == 401


def test_empty_batch_is_400(project, post):
    response = post({"batch": []}, key=project.write_key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "empty_batch"


def test_more_than_1000_events_is_413(project, post):
    response = post({"batch": [event()] * 1001}, key=project.write_key)

    assert response.status_code == 413


def test_all_events_invalid_is_400_with_each_error(project, post):
    response = post({"batch": [{"event": "x"}, {"distinct_id": "y"}]}, key=project.write_key)

    assert response.status_code == 400
    assert [item["index"] for item in response.json()["error"]["rejected"]] == [0, 1]


def test_get_is_405(project, client):
    assert client.get("/api/v1/events").status_code == 405


def test_timestamps_iso_and_epoch_ms_are_both_accepted(project, post, store):
    post(
        {"batch": [event("iso", timestamp="2026-05-01T10:00:00Z"), event("ms", timestamp=1777629600000)]},
        key=project.write_key,
    )

    times = {row["event"]: row["ts_ms"] for row in stored(store, project.id)}
    assert times == {"iso": 1777629600000, "ms": 1777629600000}


def test_names_longer_than_200_characters_are_rejected(project, post):
    response = post({"batch": [event("e" * 201), event(distinct_id="d" * 201), event()]}, key=project.write_key)

    assert response.json()["accepted"] == 1
    assert [item["index"] for item in response.json()["rejected"]] == [0, 1]


def test_client_uuid_is_the_event_id(project, post, store):
    event_id = str(uuid.uuid4())
    post(event(event_id=event_id), key=project.write_key)

    assert stored(store, project.id)[0]["event_id_text"] == event_id


def test_event_older_than_the_retention_is_rejected(project, post):
    response = post({"batch": [event(timestamp="2001-01-01T00:00:00Z"), event()]}, key=project.write_key)

    assert response.json()["accepted"] == 1
    assert "retention" in response.json()["rejected"][0]["error"]


def test_a_resent_event_is_stored_once_whatever_its_timestamp(project, post, store):
    """The same event id sent again: without a timestamp, then with two others an hour and a
    day apart (a client that re-stamps on retry): one event, the first copy's."""
    event_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    copies = [
        event(event_id=event_id, properties={"copy": 0}),
        event(event_id=event_id, timestamp=(now - timedelta(hours=1, minutes=5)).isoformat(), properties={"copy": 1}),
        event(event_id=event_id, timestamp=(now - timedelta(days=1)).isoformat(), properties={"copy": 2}),
    ]
    for copy in copies:
        assert post(copy, key=project.write_key).json() == {"accepted": 1, "rejected": []}
    post({"batch": copies}, key=project.write_key)

    rows = stored(store, project.id)
    assert [(row["event_id_text"], row["properties"]) for row in rows] == [(event_id, '{"copy":0}')]


def test_two_sources_that_reuse_an_event_id_are_two_events(project, post, store):
    event_id = str(uuid.uuid4())
    for source in ("web", "backend", "web"):
        post(event(event_id=event_id, source_id=source), key=project.write_key)

    rows = stored(store, project.id)
    assert sorted(row["source_id"] for row in rows) == ["backend", "web"]
