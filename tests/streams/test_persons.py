"""Persons: identify/alias merge distinct ids; $set/$set_once; unique persons counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.streams.queries.persons import count_unique_persons, person_get
from analytics.streams.sink import store_event_batch
from analytics.warehouse.identity import person_id_for
from tests.ingestion.conftest import event

WINDOW = {"start": datetime.now(UTC) - timedelta(days=1), "end": datetime.now(UTC) + timedelta(days=1)}


def test_set_and_set_once_update_person_properties(project, post, store):
    post(
        {
            "batch": [
                event(
                    "$set",
                    distinct_id="p1",
                    properties={"$set": {"plan": "free", "city": "Oslo"}, "$set_once": {"first": "a"}},
                ),
                event("upgrade", distinct_id="p1", properties={"$set": {"plan": "pro"}, "$set_once": {"first": "b"}}),
            ]
        },
        key=project.write_key,
    )

    person = person_get(store, project_id=project.id, distinct_id="p1")
    assert person["properties"] == {"plan": "pro", "city": "Oslo", "first": "a"}


def test_identify_merges_anonymous_history_into_one_person(project, post, store):
    post(
        {"batch": [event("$pageview", distinct_id="anon-7"), event("$pageview", distinct_id="anon-7")]},
        key=project.write_key,
    )
    post(event("$identify", distinct_id="user-7", properties={"$anon_distinct_id": "anon-7"}), key=project.write_key)

    assert count_unique_persons(store, project_id=project.id, **WINDOW) == 1
    assert person_get(store, project_id=project.id, distinct_id="anon-7")["person_id"] == person_id_for(
        project.id, "user-7"
    )


def test_merges_are_transitive_for_ids_already_merged(project, post, store):
    post(event("$identify", distinct_id="user-a", properties={"$anon_distinct_id": "anon-a"}), key=project.write_key)
    post(event("$create_alias", distinct_id="user-b", properties={"alias": "user-a"}), key=project.write_key)

    person = person_get(store, project_id=project.id, distinct_id="anon-a")
    assert person["person_id"] == person_id_for(project.id, "user-b")
    assert set(person["distinct_ids"]) == {"anon-a", "user-a", "user-b"}


def test_merge_keeps_properties_of_both_people(project, post, store):
    post(event("e", distinct_id="anon-9", properties={"$set": {"source": "ad"}}), key=project.write_key)
    post(
        event(
            "$identify",
            distinct_id="user-9",
            properties={"$anon_distinct_id": "anon-9", "$set": {"email": "a@example.com"}},
        ),
        key=project.write_key,
    )

    assert person_get(store, project_id=project.id, distinct_id="user-9")["properties"] == {
        "source": "ad",
        "email": "a@example.com",
    }


def test_unique_persons_differs_from_distinct_ids(project, post, store):
    post({"batch": [event(distinct_id=name) for name in ("a1", "a2", "u1", "u2")]}, key=project.write_key)
    post(event("$identify", distinct_id="u1", properties={"$anon_distinct_id": "a1"}), key=project.write_key)

    assert count_unique_persons(store, project_id=project.id, **WINDOW) == 3


def test_writer_is_the_one_place_persons_are_written(project, store):
    row = {
        "project_id": project.id,
        "event_id": "3f0b8c1e-1111-4222-8333-444455556666",
        "event": "$identify",
        "distinct_id": "k-user",
        "person_id": person_id_for(project.id, "k-user"),
        "timestamp": int(datetime.now(UTC).timestamp() * 1000),
        "received_at": int(datetime.now(UTC).timestamp() * 1000),
        "properties": '{"$anon_distinct_id":"k-anon","$set":{"via":"kafka"}}',
    }

    store_event_batch([row], dedup_token="test:writer:persons")

    person = person_get(store, project_id=project.id, distinct_id="k-anon")
    assert person["person_id"] == person_id_for(project.id, "k-user")
    assert person["properties"] == {"via": "kafka"}
