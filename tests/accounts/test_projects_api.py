"""Projects API: creation, listing, object-level authorisation."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from analytics.accounts.models import Role, User
from analytics.accounts.selectors import project_for_write_key
from tests.factories import UserFactory, member_with_project

pytestmark = pytest.mark.django_db


def client_for(user: object) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def test_create_project_returns_id_and_write_key() -> None:
    user = UserFactory()
    response = client_for(user).post("/api/v1/projects", {"name": "Web", "timezone": "Europe/Berlin"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["id"] > 0
    assert body["write_key"].startswith("wk_")
    assert body["timezone"] == "Europe/Berlin"
    assert body["role"] == Role.OWNER


def test_non_member_gets_404_for_another_organisations_project() -> None:
    _, project = member_with_project()
    stranger = UserFactory()
    client = client_for(stranger)
    assert client.get(f"/api/v1/projects/{project.id}").status_code == 404
    assert client.post(f"/api/v1/projects/{project.id}/rotate-write-key").status_code == 404
    assert client.patch(f"/api/v1/projects/{project.id}", {"name": "x"}, format="json").status_code == 404


def test_viewer_cannot_change_a_project() -> None:
    viewer, project = member_with_project(role=Role.VIEWER)
    client = client_for(viewer)
    assert client.get(f"/api/v1/projects/{project.id}").status_code == 200
    response = client.patch(f"/api/v1/projects/{project.id}", {"name": "renamed"}, format="json")
    assert response.status_code == 403
    project.refresh_from_db()
    assert project.name != "renamed"


def test_list_shows_only_the_users_projects_with_their_role() -> None:
    viewer, mine = member_with_project(role=Role.VIEWER)
    member_with_project()  # another organisation's project
    response = client_for(viewer).get("/api/v1/projects")
    assert response.status_code == 200
    assert [(item["id"], item["role"]) for item in response.json()] == [(mine.id, Role.VIEWER)]


def test_detail_shows_the_project_to_a_member() -> None:
    member, project = member_with_project(role=Role.MEMBER)
    response = client_for(member).get(f"/api/v1/projects/{project.id}")
    assert response.status_code == 200
    assert response.json()["write_key"] == project.write_key
    assert response.json()["role"] == Role.MEMBER


def test_admin_rotates_the_write_key_and_the_old_key_stops_resolving() -> None:
    admin_user, project = member_with_project(role=Role.ADMIN)
    old_key = project.write_key
    assert project_for_write_key(old_key) is not None  # now cached
    response = client_for(admin_user).post(f"/api/v1/projects/{project.id}/rotate-write-key")
    assert response.status_code == 200
    new_key = response.json()["write_key"]
    assert new_key != old_key
    assert new_key.startswith("wk_")
    assert project_for_write_key(old_key) is None
    assert project_for_write_key(new_key).id == project.id


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER])
def test_viewer_and_member_cannot_rotate_the_write_key(role: str) -> None:
    user, project = member_with_project(role=role)
    old_key = project.write_key
    response = client_for(user).post(f"/api/v1/projects/{project.id}/rotate-write-key")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    project.refresh_from_db()
    assert project.write_key == old_key


def test_viewer_cannot_create_a_project_in_their_organisation() -> None:
    viewer, project = member_with_project(role=Role.VIEWER)
    response = client_for(viewer).post("/api/v1/projects", {"name": "Sneaky"}, format="json")
    assert response.status_code == 403
    assert not project.organisation.projects.filter(name="Sneaky").exists()


def test_non_member_gets_404_for_unknown_and_malformed_ids_alike() -> None:
    stranger = UserFactory()
    client = client_for(stranger)
    assert client.get("/api/v1/projects/999999999").status_code == 404
    assert client.get("/api/v1/projects/99999999999999999999999").status_code == 404


def test_superuser_without_organisation_gets_a_default_one_on_first_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-operator-passphrase")
    call_command("createsuperuser", interactive=False, email="ops@example.com", verbosity=0)
    operator = User.objects.get(email="ops@example.com")
    assert not operator.memberships.exists()
    response = client_for(operator).post("/api/v1/projects", {"name": "First"}, format="json")
    assert response.status_code == 201, response.content
    membership = operator.memberships.get()
    assert membership.role == Role.OWNER
    assert response.json()["organisation_id"] == membership.organisation_id
    second = client_for(operator).post("/api/v1/projects", {"name": "Second"}, format="json")
    assert second.json()["organisation_id"] == membership.organisation_id


def test_invalid_timezone_and_retention_are_field_errors() -> None:
    client = client_for(UserFactory())
    response = client.post(
        "/api/v1/projects", {"name": "X", "timezone": "Mars/Olympus", "retention_days": 0}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"timezone", "retention_days"}


def test_owner_updates_project_settings() -> None:
    owner, project = member_with_project()
    response = client_for(owner).patch(
        f"/api/v1/projects/{project.id}", {"name": "Renamed", "retention_days": 30}, format="json"
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert (project.name, project.retention_days) == ("Renamed", 30)
