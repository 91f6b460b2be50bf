"""Broken input gets its documented 4xx, never a 500, and is counted by reason."""

from __future__ import annotations

import gzip
import json
import zlib

import orjson
from prometheus_client import REGISTRY

from tests.ingestion.conftest import event, stored


def rejected_requests(reason: str) -> float:
    return REGISTRY.get_sample_value("ingest_requests_rejected_total", {"reason": reason}) or 0.0


def rejected_events(reason: str) -> float:
    return REGISTRY.get_sample_value("ingest_events_rejected_total", {"reason": reason}) or 0.0


def test_malformed_json_is_400_and_counted(project, post):
    before = rejected_requests("malformed_json")

    response = post(b'{"event": "x", "distinct_id": ', key=project.write_key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
    assert rejected_requests("malformed_json") == before + 1


def test_truncated_batch_is_400(project, post):
    body = orjson.dumps({"batch": [event()] * 10})[:-7]

    assert post(body, key=project.write_key).status_code == 400


def test_lone_surrogate_is_400(project, post):
    response = post(b'{"event": "x\\ud800", "distinct_id": "a"}', key=project.write_key)

    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]["message"]


def _with_lone_surrogates(batch: list[dict], marker: str = "LONE") -> bytes:
    """The batch as JSON text with each ``marker`` turned into an escaped lone surrogate."""
    return orjson.dumps({"batch": batch}).replace(marker.encode(), b"\\ud800")


def test_a_lone_surrogate_rejects_only_its_event_and_the_rest_is_stored(project, post, store):
    batch = [
        event("a"),
        event("b", properties={"note": "bad LONE here"}),
        event("cLONE"),
        event("d", properties={"keyLONE": 1}),
        event("e", properties={"pair": "\U0001f600 ok"}),
    ]

    response = post(_with_lone_surrogates(batch), key=project.write_key)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["accepted"] == 2
    assert [item["index"] for item in body["rejected"]] == [1, 2, 3]
    assert all("surrogate" in item["error"] for item in body["rejected"])
    assert sorted(row["event"] for row in stored(store, project.id)) == ["a", "e"]
    assert rejected_events("invalid_unicode") >= 3


def test_a_lone_surrogate_in_a_segment_batch_rejects_only_that_message(project, post, store):
    messages = [
        {"type": "track", "event": "ok", "userId": "u1"},
        {"type": "track", "event": "bad", "userId": "u1", "properties": {"x": "LONE"}},
    ]
    body = orjson.dumps({"batch": messages}).replace(b"LONE", b"\\udc00")

    response = post(body, key=project.write_key, path="/v1/batch")

    assert response.status_code == 200, response.content
    assert [item["index"] for item in response.json()["rejected"]] == [1]
    assert [row["event"] for row in stored(store, project.id)] == ["ok"]


def test_a_lone_surrogate_in_the_write_key_is_401_not_500(project, post):
    body = orjson.dumps({"api_key": project.write_key[:-1] + "LONE", "batch": [event()]})

    response = post(body.replace(b"LONE", b"\\ud800"))

    assert response.status_code == 401


def test_raw_nul_byte_is_400(project, post):
    assert post(b'{"event": "x\x00", "distinct_id": "a"}', key=project.write_key).status_code == 400


def test_escaped_nul_in_a_name_rejects_that_event(project, post, store):
    response = post({"batch": [event("bad\u0000name"), event()]}, key=project.write_key)

    assert response.status_code == 202
    assert response.json()["rejected"] == [{"index": 0, "error": "event must not contain control characters"}]


def test_escaped_nul_inside_properties_is_kept_as_data(project, post, store):
    post(event(properties={"note": "a\u0000b"}), key=project.write_key)

    assert orjson.loads(stored(store, project.id)[0]["properties"]) == {"note": "a\u0000b"}


def test_ten_thousand_properties_rejects_that_event(project, post):
    huge = event(properties={f"p{i}": i for i in range(10_000)})
    before = rejected_events("event_too_large")

    response = post({"batch": [huge, event()]}, key=project.write_key)

    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert "larger than" in response.json()["rejected"][0]["error"]
    assert rejected_events("event_too_large") == before + 1


def test_deep_nesting_beyond_the_parser_limit_is_400(project, post):
    body = b'{"event":"x","distinct_id":"a","properties":' + b'{"a":' * 2000 + b"1" + b"}" * 2001

    response = post(body, key=project.write_key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_nesting_too_deep_to_store_rejects_that_event(project, post):
    nested: dict = {"leaf": 1}
    for _ in range(300):
        nested = {"n": nested}

    body = json.dumps({"batch": [event(properties=nested), event()]}).encode()

    response = post(body, key=project.write_key)

    assert response.status_code == 202
    assert response.json()["rejected"][0] == {"index": 0, "error": "properties are nested too deeply or not JSON"}


def test_wrong_types_reject_each_event(project, post):
    batch = [
        {"event": 5.5, "distinct_id": "a"},
        {"event": "x", "distinct_id": ["a"]},
        {"event": "x", "distinct_id": "a", "properties": [1, 2]},
        {"event": "x", "distinct_id": "a", "timestamp": "yesterday"},
        {"event": "x", "distinct_id": "a", "timestamp": True},
        {"event": "x", "distinct_id": "a", "event_id": {"id": 1}},
        event(),
    ]

    response = post({"batch": batch}, key=project.write_key)

    assert response.status_code == 202
    assert [item["index"] for item in response.json()["rejected"]] == [0, 1, 2, 3, 4, 5]


def test_body_that_is_not_an_event_is_400(project, post):
    assert post(b'"just a string"', key=project.write_key).status_code == 400
    assert post({"batch": "nope"}, key=project.write_key).status_code == 400


def test_body_over_5_mb_is_413_json(project, post):
    body = b'{"batch": [' + b" " * (5 * 1024 * 1024) + b"]}"

    response = post(body, key=project.write_key)

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_oversize_event_inside_a_good_batch_rejects_only_that_index(project, post, store):
    batch = [event("a"), event("big", properties={"blob": "x" * 40_000}), event("c")]

    response = post({"batch": batch}, key=project.write_key)

    assert response.status_code == 202
    assert response.json()["accepted"] == 2
    assert [item["index"] for item in response.json()["rejected"]] == [1]
    assert sorted(row["event"] for row in stored(store, project.id)) == ["a", "c"]


def test_gzip_body_is_accepted(project, post, store):
    response = post({"batch": [event(), event("b")]}, key=project.write_key, gzip_body=True)

    assert response.status_code == 202
    assert response.json()["accepted"] == 2


def test_gzip_bomb_is_413_without_inflating_it(project, post):
    bomb = gzip.compress(b"[" + b" " * (200 * 1024 * 1024) + b"]", compresslevel=9)
    assert len(bomb) < 1024 * 1024

    response = post(bomb, key=project.write_key, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]["message"]


def test_corrupt_gzip_is_400(project, post):
    response = post(b"\x1f\x8b\x08\x00garbage", key=project.write_key, headers={"Content-Encoding": "gzip"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_compression"


def test_truncated_gzip_is_400(project, post):
    body = gzip.compress(orjson.dumps(event()))[:-10]

    assert post(body, key=project.write_key, headers={"Content-Encoding": "gzip"}).status_code == 400


def test_deflate_body_is_accepted(project, post):
    body = zlib.compress(orjson.dumps(event()))

    assert post(body, key=project.write_key, headers={"Content-Encoding": "deflate"}).status_code == 202


def test_unknown_encoding_is_415(project, post):
    assert post(orjson.dumps(event()), key=project.write_key, headers={"Content-Encoding": "br"}).status_code == 415


def test_sql_in_names_and_properties_is_stored_as_data(project, post, store):
    nasty = "x'); DROP TABLE events; --"
    response = post(event(nasty, distinct_id=nasty, properties={nasty: nasty}), key=project.write_key)

    assert response.status_code == 202
    row = stored(store, project.id)[0]
    assert (row["event"], row["distinct_id"]) == (nasty, nasty)
