"""Personal API keys (read access, stored hashed, revocable) and write keys (ingestion only)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from analytics.accounts.keys import hash_key
from analytics.accounts.models import PersonalApiKey
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db


def logged_in(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def with_key(raw_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    return client


def create_key(user: object, label: str = "ci") -> dict:
    response = logged_in(user).post("/api/v1/api-keys", {"label": label}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_shows_the_raw_key_once_and_stores_only_its_hash() -> None:
    user, _ = member_with_project()
    created = create_key(user)
    raw_key = created["key"]
    assert raw_key.startswith("pak_")
    record = PersonalApiKey.objects.get(pk=created["id"])
    assert record.key_hash == hash_key(raw_key)
    assert raw_key not in (record.key_hash, record.prefix, record.label)
    assert raw_key.startswith(record.prefix)
    listed = logged_in(user).get("/api/v1/api-keys").json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert "key" not in listed[0]
    assert "key_hash" not in listed[0]


def test_personal_key_reads_the_users_projects() -> None:
    user, project = member_with_project()
    raw_key = create_key(user)["key"]
    response = with_key(raw_key).get(f"/api/v1/projects/{project.id}")
    assert response.status_code == 200
    assert PersonalApiKey.objects.get(user=user).last_used_at is not None


def test_personal_key_cannot_write() -> None:
    user, project = member_with_project()
    client = with_key(create_key(user)["key"])
    assert client.post(f"/api/v1/projects/{project.id}/rotate-write-key").status_code == 403
    assert client.post("/api/v1/projects", {"name": "x"}, format="json").status_code == 403
    assert client.post("/api/v1/api-keys", {"label": "more"}, format="json").status_code == 403


def test_personal_key_still_gets_404_for_other_organisations() -> None:
    user, _ = member_with_project()
    _, foreign = member_with_project()
    assert with_key(create_key(user)["key"]).get(f"/api/v1/projects/{foreign.id}").status_code == 404


def test_revoked_key_gets_401() -> None:
    user, project = member_with_project()
    created = create_key(user)
    revoke = logged_in(user).post(f"/api/v1/api-keys/{created['id']}/revoke")
    assert revoke.status_code == 200
    assert revoke.json()["revoked_at"] is not None
    response = with_key(created["key"]).get(f"/api/v1/projects/{project.id}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_unknown_personal_key_gets_401() -> None:
    assert with_key("pak_" + "x" * 43).get("/api/v1/projects").status_code == 401


def test_another_users_key_cannot_be_revoked() -> None:
    owner, _ = member_with_project()
    stranger, _ = member_with_project()
    created = create_key(owner)
    assert logged_in(stranger).post(f"/api/v1/api-keys/{created['id']}/revoke").status_code == 404
    assert PersonalApiKey.objects.get(pk=created["id"]).revoked_at is None
