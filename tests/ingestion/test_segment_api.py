"""The Segment HTTP Tracking API: the examples of its specification are accepted."""

from __future__ import annotations

import base64

import orjson

from analytics.streams.queries.persons import person_get
from analytics.warehouse.identity import person_id_for
from tests.ingestion.conftest import stored


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


TRACK = {
    "userId": "019mr8mf4r",
    "event": "Item Purchased",
    "properties": {"name": "Leap to Conclusions Mat", "revenue": 14.99},
    "context": {
        "ip": "24.5.68.47",
        "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
        "library": {"name": "analytics-node", "version": "6.2.0"},
        "location": {"country": "US"},
    },
    "timestamp": "2026-11-20T19:23:18.000Z",
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
}


def test_track_with_basic_auth(project, post, store):
    response = post(TRACK, path="/v1/track", headers=basic(project.write_key))

    assert response.status_code == 200
    assert response.json()["success"] is True
    row = stored(store, project.id)[0]
    assert (row["event"], row["distinct_id"], row["revenue"]) == ("Item Purchased", "019mr8mf4r", 14.99)
    assert row["event_id_text"] == "022bb90c-bbac-11e4-8dfc-aa07a5b093db"
    assert (row["lib"], row["lib_version"], row["ip"], row["country"]) == ("analytics-node", "6.2.0", "24.5.68.0", "US")
    assert row["browser"] == "Safari"


def test_write_key_in_the_body(project, post, store):
    response = post({**TRACK, "writeKey": project.write_key}, path="/v1/track")

    assert response.status_code == 200


def test_identify_sets_traits_and_merges_the_anonymous_id(project, post, store):
    post(
        {"anonymousId": "anon-1", "event": "Viewed", "type": "track"},
        path="/v1/track",
        headers=basic(project.write_key),
    )
    response = post(
        {
            "userId": "97980cfea0067",
            "anonymousId": "anon-1",
            "traits": {"name": "Peter Gibbons", "email": "peter@example.com", "plan": "premium"},
        },
        path="/v1/identify",
        headers=basic(project.write_key),
    )

    assert response.status_code == 200
    person = person_get(store, project_id=project.id, distinct_id="anon-1")
    assert person["person_id"] == person_id_for(project.id, "97980cfea0067")
    assert person["properties"]["plan"] == "premium"
    assert set(person["distinct_ids"]) >= {"anon-1", "97980cfea0067"}


def test_page_screen_group_alias(project, post, store):
    key = basic(project.write_key)
    calls = {
        "/v1/page": {
            "userId": "u1",
            "name": "Pricing",
            "properties": {"title": "Pricing", "url": "https://x.test/pricing"},
        },
        "/v1/screen": {"userId": "u1", "name": "Home", "properties": {"variation": "blue"}},
        "/v1/group": {"userId": "u1", "groupId": "0e8c78ea9d97a7b8185e8632", "traits": {"name": "Initech"}},
        "/v1/alias": {"previousId": "old-id", "userId": "u1"},
    }
    statuses = [post(body, path=path, headers=key).status_code for path, body in calls.items()]

    assert statuses == [200, 200, 200, 200]
    rows = {row["event"]: row for row in stored(store, project.id)}
    assert set(rows) == {"$pageview", "$screen", "$groupidentify", "$create_alias"}
    assert rows["$pageview"]["url"] == "https://x.test/pricing"
    assert orjson.loads(rows["$groupidentify"]["properties"])["$group_id"] == "0e8c78ea9d97a7b8185e8632"
    assert person_get(store, project_id=project.id, distinct_id="old-id")["person_id"] == person_id_for(
        project.id, "u1"
    )


def test_batch_with_mixed_types_and_a_bad_message(project, post, store):
    body = {
        "batch": [
            {"type": "identify", "userId": "019mr8mf4r", "traits": {"email": "jake@yahoo.com"}},
            {"type": "track", "userId": "019mr8mf4r", "event": "Song Played", "properties": {"name": "Fallin for You"}},
            {"type": "track", "event": "No user"},
            {"type": "unknown", "userId": "x"},
        ],
        "sentAt": "2026-11-24T00:00:00Z",
    }

    response = post(body, path="/v1/batch", headers=basic(project.write_key))

    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert [item["index"] for item in response.json()["rejected"]] == [2, 3]


def test_bad_write_key_is_401(project, post):
    assert post(TRACK, path="/v1/track", headers=basic("wk_wrong")).status_code == 401


def test_call_over_32_kb_is_400(project, post):
    body = {**TRACK, "properties": {"blob": "x" * 40_000}}

    response = post(body, path="/v1/track", headers=basic(project.write_key))

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "payload_too_large"


def test_batch_over_500_kb_is_400(project, post):
    body = {"batch": [{**TRACK, "type": "track", "properties": {"blob": "x" * 20_000}}] * 30}

    assert post(body, path="/v1/batch", headers=basic(project.write_key)).status_code == 400


def test_resent_message_ids_count_once(project, post, store):
    post(TRACK, path="/v1/track", headers=basic(project.write_key))
    post(TRACK, path="/v1/track", headers=basic(project.write_key))

    assert len(stored(store, project.id)) == 1


def test_batch_level_context_applies_to_each_message(project, post, store):
    body = {
        "batch": [
            {"type": "track", "userId": "u", "event": "e1"},
            {"type": "track", "userId": "u", "event": "e2", "context": {"library": {"name": "own"}}},
        ],
        "context": {"library": {"name": "analytics-python", "version": "2.3.0"}, "location": {"country": "NO"}},
    }

    post(body, path="/v1/batch", headers=basic(project.write_key))

    rows = {row["event"]: row for row in stored(store, project.id)}
    assert (rows["e1"]["lib"], rows["e1"]["lib_version"], rows["e1"]["country"]) == ("analytics-python", "2.3.0", "NO")
    assert (rows["e2"]["lib"], rows["e2"]["country"]) == ("own", "NO")
