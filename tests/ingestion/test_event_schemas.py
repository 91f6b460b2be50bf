"""Event schemas per project, and the ready telecom schema."""

from __future__ import annotations

from analytics.ingestion.services import event_schema_register, telecom_schema_install
from tests.factories import member_with_project
from tests.ingestion.conftest import event

CALL = {
    "duration_sec": 61.5,
    "started_at": "2026-11-23T10:00:00Z",
    "ended_at": "2026-11-23T10:01:01.5Z",
    "meta": {"cell": "A17"},
}


def test_event_breaking_its_schema_is_rejected_with_the_property_named(project, post, store):
    event_schema_register(
        project=project,
        event_name="checkout",
        properties={"amount": {"type": "number", "required": True}, "currency": "string"},
    )

    response = post(
        {
            "batch": [
                event("checkout", properties={"amount": 10, "currency": "EUR"}),
                event("checkout", properties={"currency": "EUR"}),
                event("checkout", properties={"amount": "ten"}),
                event("other"),
            ]
        },
        key=project.write_key,
    )

    body = response.json()
    assert body["accepted"] == 2
    assert body["rejected"][0] == {"index": 1, "error": "property 'amount' is required by the schema of 'checkout'"}
    assert body["rejected"][1]["error"].startswith("property 'amount' must be of type number")


def test_telecom_schema_is_ready_to_install(project, post, store):
    telecom_schema_install(project=project)

    response = post(
        {
            "batch": [
                event("CALL_OUT", distinct_id="+4790000001", properties=CALL),
                event("DATA", distinct_id="+4790000001", properties={**CALL, "bytes_up": 1200, "bytes_down": 90_000}),
                event("DATA", distinct_id="+4790000001", properties=CALL),
                event("SMS_SENT", distinct_id="+4790000001", properties={"started_at": 1763892000000}),
            ]
        },
        key=project.write_key,
    )

    assert response.json()["accepted"] == 3
    assert response.json()["rejected"] == [
        {"index": 2, "error": "property 'bytes_up' is required by the schema of 'DATA'"}
    ]


def test_schema_api_register_list_delete(owner_and_project, client):
    owner, project = owner_and_project
    client.force_login(owner)
    url = f"/api/v1/projects/{project.id}/event-schemas"

    created = client.post(
        url,
        {"event_name": "signup", "properties": {"plan": {"type": "string", "required": True}}},
        content_type="application/json",
    )
    listed = client.get(url)
    bad = client.post(url, {"event_name": "x", "properties": {"a": {"type": "color"}}}, content_type="application/json")
    deleted = client.delete(f"{url}/signup")

    assert created.status_code == 201
    assert [item["event_name"] for item in listed.json()] == ["signup"]
    assert bad.status_code == 400
    assert deleted.status_code == 204


def test_schema_api_installs_telecom(owner_and_project, client):
    owner, project = owner_and_project
    client.force_login(owner)

    response = client.post(f"/api/v1/projects/{project.id}/event-schemas/install-telecom")

    assert response.status_code == 201
    assert sorted(item["event_name"] for item in response.json()) == [
        "CALL_IN",
        "CALL_OUT",
        "DATA",
        "SMS_RECEIVED",
        "SMS_SENT",
    ]


def test_schema_api_is_404_for_non_members(owner_and_project, client):
    stranger, _ = member_with_project()
    client.force_login(stranger)

    assert client.get(f"/api/v1/projects/{owner_and_project[1].id}/event-schemas").status_code == 404
