"""Projects API: creation, listing, object-level authorisation."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from analytics.accounts.models import Role
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
