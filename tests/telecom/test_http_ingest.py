"""POST /api/v1/network-actions: the provider's shape, validation per type, dedup."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime

import orjson
import pytest

from analytics.ingestion.network_actions import _iso
from tests.ingestion.test_asgi_fast_path import call
from tests.telecom.conftest import EXAMPLE, example, stored_actions

PATH = "/api/v1/network-actions"


def test_the_example_message_is_stored_as_a_network_action_event(old_project, post, store):
    response = post(EXAMPLE, key=old_project.write_key, path=PATH)

    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "rejected": []}
    [row] = stored_actions(store, old_project.id)
    assert row["event_id"] == EXAMPLE["event_id"]
    assert (row["event"], row["distinct_id"], row["source_id"], row["lib"]) == (
        "CALL_OUT",
        "123456789",
        "provider-1",
        "network-actions",
    )
    assert row["ts_ms"] == 1760963696000  # started_at
    assert orjson.loads(row["properties"]) == {
        "started_at": "2025-10-20T12:34:56.000Z",
        "ended_at": "2025-10-20T12:56:00.000Z",
        "duration_sec": 127,
        "bytes_up": 0,
        "bytes_down": 0,
        "meta": {"cell": "A1"},
    }


# (message, reason, words of the error)
RULES = [
    (example(type="FAX"), "invalid_type", "type must be one of CALL_OUT, CALL_IN, SMS_SENT, SMS_RECEIVED, DATA"),
    (example(type=...), "invalid_type", "type must be one of"),
    (example(started_at=...), "missing_started_at", "started_at is required"),
    (example(started_at="yesterday"), "invalid_started_at", "started_at must be ISO-8601"),
    (example(ended_at="2025-10-20T12:00:00Z"), "ended_before_started", "ended_at must not be before started_at"),
    (example(duration_sec=-1), "invalid_duration", "duration_sec must be >= 0"),
    (example(duration_sec="127"), "invalid_duration", "duration_sec must be a number"),
    (example(duration_sec=5000), "inconsistent_duration", "duration_sec (5000) is longer than"),
    (example(duration_sec=...), "missing_duration", "CALL_OUT must carry duration_sec"),
    (example(type="CALL_IN", duration_sec=None), "missing_duration", "CALL_IN must carry duration_sec"),
    (example(type="SMS_SENT", duration_sec=3), "sms_with_duration", "SMS_SENT must not carry a duration"),
    (example(type="DATA", bytes_up=...), "missing_bytes", "DATA must carry bytes_up and bytes_down"),
    (example(type="DATA", bytes_down=None), "missing_bytes", "DATA must carry bytes_up and bytes_down"),
    (example(bytes_up=-5), "invalid_bytes", "bytes_up must be >= 0"),
    (example(bytes_down=1.5), "invalid_bytes", "bytes_down must be an integer"),
    (example(meta=["A1"]), "invalid_meta", "meta must be a JSON object"),
    (example(meta={"x": "y" * 5000}), "meta_too_large", "meta must be at most 4096 bytes"),
    (example(user_id=""), "missing_user_id", "user_id is required and must not be empty"),
    (example(user_id=...), "missing_user_id", "user_id is required"),
    (example(source_id=""), "missing_source_id", "source_id is required and must not be empty"),
]


@pytest.mark.parametrize(("bad", "reason", "words"), RULES, ids=[rule[1] + str(i) for i, rule in enumerate(RULES)])
def test_each_rule_rejects_with_its_reason_and_keeps_the_rest_of_the_batch(
    old_project, post, store, bad, reason, words
):
    good_before = example(event_id="00000000-0000-4000-8000-000000000001")
    good_after = example(event_id="00000000-0000-4000-8000-000000000002", type="SMS_RECEIVED", duration_sec=0)

    response = post({"batch": [good_before, bad, good_after]}, key=old_project.write_key, path=PATH)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 2
    assert [(item["index"], item["reason"]) for item in body["rejected"]] == [(1, reason)]
    assert words in body["rejected"][0]["error"]
    assert sorted(row["event_id"] for row in stored_actions(store, old_project.id)) == [
        good_before["event_id"],
        good_after["event_id"],
    ]


def test_types_carry_what_they_must(old_project, post, store):
    batch = [
        example(event_id="10000000-0000-4000-8000-000000000001", type="SMS_SENT", duration_sec=...),
        example(event_id="10000000-0000-4000-8000-000000000002", type="SMS_SENT", duration_sec=None, ended_at=...),
        example(event_id="10000000-0000-4000-8000-000000000003", type="DATA", bytes_up=10, bytes_down=2000),
        example(event_id="10000000-0000-4000-8000-000000000004", type="CALL_IN", ended_at=..., meta=...),
        # A duration up to the tolerance longer than the interval is still consistent.
        example(event_id="10000000-0000-4000-8000-000000000005", ended_at="2025-10-20T12:37:00Z", duration_sec=125.5),
    ]

    response = post({"batch": batch}, key=old_project.write_key, path=PATH)

    assert response.json() == {"accepted": 5, "rejected": []}
    rows = {row["event_id"]: orjson.loads(row["properties"]) for row in stored_actions(store, old_project.id)}
    assert "duration_sec" not in rows["10000000-0000-4000-8000-000000000001"]
    assert "ended_at" not in rows["10000000-0000-4000-8000-000000000002"]
    assert rows["10000000-0000-4000-8000-000000000003"]["bytes_down"] == 2000
    assert "meta" not in rows["10000000-0000-4000-8000-000000000004"]


def test_a_batch_of_only_bad_messages_is_400_with_every_reason(old_project, post):
    response = post({"batch": [example(type="X"), example(user_id="")]}, key=old_project.write_key, path=PATH)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_events"
    assert [item["reason"] for item in error["rejected"]] == ["invalid_type", "missing_user_id"]


def test_a_write_key_is_required(old_project, post):
    assert post(EXAMPLE, path=PATH).status_code == 401
    assert post(EXAMPLE, key="wk_unknown", path=PATH).status_code == 401


def test_the_same_pair_twice_with_other_timestamps_across_an_hour_is_stored_once(old_project, post, store):
    first = example(started_at="2025-10-20T12:59:59Z", ended_at="2025-10-20T13:03:00Z")
    again = example(started_at="2025-10-20T13:00:01Z", ended_at="2025-10-20T13:05:00Z")

    assert post(first, key=old_project.write_key, path=PATH).status_code == 202
    assert post({"batch": [again, again]}, key=old_project.write_key, path=PATH).status_code == 202

    rows = stored_actions(store, old_project.id)
    assert [(row["event_id"], row["source_id"]) for row in rows] == [(EXAMPLE["event_id"], "provider-1")]
    assert orjson.loads(rows[0]["properties"])["started_at"] == "2025-10-20T12:59:59.000Z"


def test_two_providers_reusing_one_event_id_stay_two_actions(old_project, post, store):
    response = post(
        {"batch": [example(source_id="provider-1"), example(source_id="provider-2")]},
        key=old_project.write_key,
        path=PATH,
    )
    post(example(source_id="provider-2", started_at="2025-10-20T12:35:00Z"), key=old_project.write_key, path=PATH)

    assert response.json()["accepted"] == 2
    rows = stored_actions(store, old_project.id)
    assert sorted((row["event_id"], row["source_id"]) for row in rows) == [
        (EXAMPLE["event_id"], "provider-1"),
        (EXAMPLE["event_id"], "provider-2"),
    ]


def test_stored_times_are_iso_utc_with_milliseconds_as_datetime_writes_them():
    rng = random.Random(5)
    for milliseconds in [
        0,
        951_782_400_000,
        4_107_542_399_999,
        *(rng.randrange(0, 7_258_118_400_000) for _ in range(2000)),
    ]:
        expected = datetime.fromtimestamp(milliseconds / 1000, tz=UTC).isoformat(timespec="milliseconds")
        assert _iso(milliseconds) == expected.replace("+00:00", "Z")


def test_the_asgi_fast_path_serves_network_actions_gzip_and_arrays(old_project, store):
    body = gzip.compress(orjson.dumps([EXAMPLE, example(event_id="20000000-0000-4000-8000-000000000001")]))
    status, headers, answer, _ = call(
        PATH,
        body,
        headers=[
            (b"x-api-key", old_project.write_key.encode()),
            (b"content-encoding", b"gzip"),
            (b"origin", b"https://p.example"),
        ],
    )

    assert (status, orjson.loads(answer)) == (202, {"accepted": 2, "rejected": []})
    assert b"x-frame-options" not in headers  # Django's middleware stack did not run
    assert headers[b"access-control-allow-origin"] == b"https://p.example"
    assert len(stored_actions(store, old_project.id)) == 2


def test_request_level_refusals_match_the_events_endpoint(old_project, post, client, settings):
    settings.INGEST_MAX_BATCH = 3
    too_many = post({"batch": [EXAMPLE] * 4}, key=old_project.write_key, path=PATH)
    assert too_many.status_code == 413
    assert too_many.json()["error"]["code"] == "batch_too_large"
    assert post({"batch": []}, key=old_project.write_key, path=PATH).json()["error"]["code"] == "empty_batch"
    assert post({"batch": {}}, key=old_project.write_key, path=PATH).json()["error"]["code"] == "invalid_batch"
    assert post(b"{not json", key=old_project.write_key, path=PATH).json()["error"]["code"] == "malformed_json"
    assert post(b'"text"', key=old_project.write_key, path=PATH).json()["error"]["code"] == "invalid_body"
    method = client.put(PATH, b"{}", content_type="application/json")
    assert method.status_code == 405
    assert method["Allow"] == "POST, OPTIONS"
