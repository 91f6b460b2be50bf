"""Rules applied at ingestion: the suppression list drops an id's events, chosen properties
are dropped or hashed (sha256 with the project's salt) in events and person properties,
and a change reaches the ingestion cache at once in this process."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest

from analytics.ingestion.row_policy import policy_for
from analytics.privacy.models import PrivacySettings, SuppressedId
from analytics.privacy.policy import PROVIDER
from analytics.warehouse.guard import Query
from tests.factories import member_with_project
from tests.ingestion.conftest import event, stored
from tests.privacy.test_forget import jwt


@pytest.fixture
def owned(db: None, store: Any) -> tuple[Any, Any]:
    PROVIDER.forget()
    return member_with_project()


def api(client: Any, method: str, path: str, user: Any, body: Any = None) -> Any:
    kwargs: dict[str, Any] = {"headers": jwt(user)}
    if body is not None:
        kwargs.update(data=body, content_type="application/json")
    return getattr(client, method)(path, **kwargs)


def test_a_project_without_rules_has_no_policy(owned):
    _, project = owned
    assert policy_for(project.id) is None
    PrivacySettings.objects.create(project=project)  # settings with empty lists: still none
    PROVIDER.forget()
    assert policy_for(project.id) is None


def test_suppressed_id_is_dropped_until_removed(owned, client, post, store, django_capture_on_commit_callbacks):
    owner, project = owned
    base = f"/api/v1/projects/{project.id}/suppressions/"
    assert policy_for(project.id) is None  # cached as "no rules" before the change
    with django_capture_on_commit_callbacks(execute=True):
        created = api(client, "post", base, owner, {"distinct_id": "bob", "note": "asked by mail"})
    assert created.status_code == 201, created.content
    entry = created.json()
    assert "bob" not in str(entry)
    assert len(entry["id_hash"]) == 64

    response = post({"batch": [event(distinct_id="bob"), event(distinct_id="ann")]}, key=project.write_key)
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "rejected": []}
    assert [row["distinct_id"] for row in stored(store, project.id)] == ["ann"]
    listed = api(client, "get", base, owner).json()
    assert [item["id"] for item in listed] == [entry["id"]]

    with django_capture_on_commit_callbacks(execute=True):
        assert api(client, "delete", f"{base}{entry['id']}", owner).status_code == 204
    post(event(distinct_id="bob"), key=project.write_key)
    assert sorted(row["distinct_id"] for row in stored(store, project.id)) == ["ann", "bob"]
    assert api(client, "delete", f"{base}{entry['id']}", owner).status_code == 404


def test_forget_with_suppress_keeps_later_events_out(owned, client, post, store, django_capture_on_commit_callbacks):
    owner, project = owned
    post(event(distinct_id="eve"), key=project.write_key)
    with django_capture_on_commit_callbacks(execute=True):
        response = api(client, "post", f"/api/v1/projects/{project.id}/persons/eve/delete", owner, {"suppress": True})
    assert response.status_code == 202
    assert SuppressedId.objects.filter(project=project).count() == 1
    post(event(distinct_id="eve"), key=project.write_key)
    assert stored(store, project.id) == []


def test_properties_are_dropped_or_hashed(owned, client, post, store, django_capture_on_commit_callbacks):
    owner, project = owned
    path = f"/api/v1/projects/{project.id}/privacy"
    with django_capture_on_commit_callbacks(execute=True):
        response = api(
            client, "patch", path, owner, {"drop_properties": ["email", "$current_url"], "hash_properties": ["phone"]}
        )
    assert response.status_code == 200, response.content
    assert response.json()["drop_properties"] == ["email", "$current_url"]
    assert response.json()["retention_days"] == project.retention_days
    assert response.json()["keep_full_ip"] is False
    salt = PrivacySettings.objects.get(project=project).salt

    def digest(value: str) -> str:
        return hashlib.sha256((salt + value).encode()).hexdigest()

    properties = {
        "email": "a@example.com",
        "phone": "+49 30 1234",
        "plan": "pro",
        "$current_url": "https://example.com/private?token=1",
        "$set": {"email": "a@example.com", "phone": 4930, "name": "A"},
    }
    post(event("$identify", distinct_id="ann", properties=properties), key=project.write_key)
    rows = stored(store, project.id)
    assert len(rows) == 1
    kept = orjson.loads(rows[0]["properties"])
    assert kept == {"phone": digest("+49 30 1234"), "plan": "pro", "$set": {"phone": digest("4930"), "name": "A"}}
    assert rows[0]["url"] == ""
    sql = "SELECT properties FROM persons WHERE project_id = {project_id:UInt64}"
    persons = store.query(Query(name="test.persons", sql=sql, params={"project_id": project.id})).rows()
    assert [orjson.loads(row[0]) for row in persons] == [{"phone": digest("4930"), "name": "A"}]

    # Rules apply from the change on; emptying them stores properties as sent again.
    with django_capture_on_commit_callbacks(execute=True):
        api(client, "patch", path, owner, {"drop_properties": [], "hash_properties": []})
    post(event(distinct_id="bo", properties={"email": "b@example.com"}), key=project.write_key)
    assert orjson.loads(stored(store, project.id)[-1]["properties"]) == {"email": "b@example.com"}


def test_settings_bad_input_and_roles(owned, client):
    from analytics.accounts.models import Membership, Role  # noqa: PLC0415
    from tests.factories import UserFactory  # noqa: PLC0415

    owner, project = owned
    path = f"/api/v1/projects/{project.id}/privacy"
    for body, field in (
        ({"drop_properties": ["ok", "bad name!"]}, "drop_properties"),
        ({"hash_properties": [3]}, "hash_properties"),
        ({"drop_properties": "email"}, "drop_properties"),
        ({"drop_properties": ["email"], "hash_properties": ["email"]}, "hash_properties"),
    ):
        response = api(client, "patch", path, owner, body)
        assert response.status_code == 400, body
        assert field in response.json()["error"]["fields"], body
    response = api(client, "post", f"/api/v1/projects/{project.id}/suppressions/", owner, {"distinct_id": ""})
    assert response.status_code == 400
    assert "distinct_id" in response.json()["error"]["fields"]
    viewer = UserFactory()
    Membership.objects.create(user=viewer, organisation=project.organisation, role=Role.VIEWER)
    assert api(client, "get", path, viewer).status_code == 200
    assert api(client, "patch", path, viewer, {"drop_properties": ["email"]}).status_code == 403
    body = {"distinct_id": "x"}
    assert api(client, "post", f"/api/v1/projects/{project.id}/suppressions/", viewer, body).status_code == 403
