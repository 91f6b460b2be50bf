"""The audit log: API and admin changes recorded with who, where and before/after; read-only
in the admin; pruned by retention; exported as JSON and CSV to organisation admins only."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.contrib import admin
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.signals import post_delete
from django.test import AsyncClient, Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from analytics.accounts.models import Membership, Project, Role, User
from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from analytics.aggregation.models import Rollup
from analytics.audit.models import AuditEntry
from analytics.audit.services import audit_entries_prune
from analytics.audit.tasks import audit_log_prune
from config.celery_app import app
from tests.factories import MembershipFactory, UserFactory, member_with_project

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (audit test)"


def logged_in(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def test_an_api_change_is_recorded_with_who_where_and_the_diff() -> None:
    owner, project = member_with_project(timezone="UTC")
    response = logged_in(owner).patch(
        f"/api/v1/projects/{project.id}",
        {"timezone": "Europe/Berlin"},
        format="json",
        HTTP_USER_AGENT=BROWSER,
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get()
    assert (entry.source, entry.method, entry.path) == ("api", "PATCH", f"/api/v1/projects/{project.id}")
    assert entry.view == "analytics.accounts.api.projects.ProjectDetailView"
    assert (entry.actor_id, entry.actor_email) == (owner.pk, owner.email)
    assert (entry.organisation_id, entry.project_id) == (project.organisation_id, project.id)
    assert (entry.ip, entry.user_agent, entry.status_code) == ("203.0.113.9", BROWSER, 200)
    [change] = entry.changes
    assert change["model"] == "accounts.project"
    assert change["action"] == "updated"
    assert change["fields"] == {"timezone": ["UTC", "Europe/Berlin"]}


def test_a_change_through_a_personal_api_key_names_the_key() -> None:
    owner, project = member_with_project()
    key, raw_key = personal_api_key_create(user=owner, label="ci", scope="write-config")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    response = client.patch(f"/api/v1/projects/{project.id}", {"retention_days": 30}, format="json")
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(path=f"/api/v1/projects/{project.id}")
    assert (entry.actor_id, entry.api_key_id, entry.api_key_prefix) == (owner.pk, key.pk, key.prefix)
    assert entry.changes[0]["fields"]["retention_days"] == [365, 30]


def test_reads_failures_and_anonymous_requests_are_not_logged() -> None:
    owner, project = member_with_project()
    stranger = UserFactory()
    assert logged_in(owner).get(f"/api/v1/projects/{project.id}").status_code == 200
    refused = logged_in(stranger).patch(f"/api/v1/projects/{project.id}", {"timezone": "Asia/Tokyo"}, format="json")
    assert refused.status_code == 404
    assert APIClient().post("/api/v1/projects", {"name": "x"}, format="json").status_code == 401
    assert AuditEntry.objects.count() == 0


def test_secrets_are_masked_in_the_diff() -> None:
    operator = User.objects.create_superuser(email="root@example.com", password="an-operator-passphrase")
    client = Client()
    client.force_login(operator)
    target = UserFactory()
    response = client.post(
        reverse("admin:auth_user_password_change", args=[target.pk]),
        {"password1": "a-new-long-passphrase-42", "password2": "a-new-long-passphrase-42"},
    )
    assert response.status_code == 302, response.content
    entry = AuditEntry.objects.get(path__contains="/password/")
    [change] = [c for c in entry.changes if c["model"] == "accounts.user"]
    assert change["fields"]["password"] == ["***", "***"]
    assert "a-new-long-passphrase-42" not in json.dumps(entry.changes)


def test_an_admin_edit_is_recorded_and_the_log_is_read_only_in_the_admin() -> None:
    operator = User.objects.create_superuser(email="root@example.com", password="an-operator-passphrase")
    client = Client()
    client.force_login(operator)
    owner, project = member_with_project()
    membership = Membership.objects.get(user=owner)
    response = client.post(
        reverse("admin:accounts_membership_change", args=[membership.pk]),
        {"user": owner.pk, "organisation": project.organisation_id, "role": Role.VIEWER},
        HTTP_USER_AGENT=BROWSER,
    )
    assert response.status_code == 302, response.content
    entry = AuditEntry.objects.get(path=reverse("admin:accounts_membership_change", args=[membership.pk]))
    assert (entry.source, entry.actor_email, entry.organisation_id) == (
        "admin",
        operator.email,
        project.organisation_id,
    )
    assert entry.user_agent == BROWSER
    changed = [c for c in entry.changes if c["model"] == "accounts.membership"]
    assert changed[0]["fields"] == {"role": ["owner", "viewer"]}
    # Read-only: the list and the entry show, nothing can be added, changed or deleted.
    model_admin = admin.site._registry[AuditEntry]
    listing = client.get(reverse("admin:audit_auditentry_changelist"))
    assert listing.status_code == 200
    request = listing.wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    detail = client.get(reverse("admin:audit_auditentry_change", args=[entry.pk]))
    assert detail.status_code == 200
    before = AuditEntry.objects.count()
    client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"})
    assert AuditEntry.objects.filter(pk=entry.pk).exists()
    assert AuditEntry.objects.count() == before


def test_retention_deletes_only_old_entries() -> None:
    now = timezone.now()
    common = {"source": "api", "method": "POST", "path": "/x", "status_code": 200}
    old = AuditEntry.objects.create(created_at=now - timedelta(days=400), **common)
    kept = AuditEntry.objects.create(created_at=now - timedelta(days=10), **common)
    assert audit_entries_prune(retention_days=365) == 1
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [kept.pk]
    assert not AuditEntry.objects.filter(pk=old.pk).exists()
    assert audit_entries_prune(retention_days=5) == 1
    AuditEntry.objects.create(created_at=now - timedelta(days=3650), **common)
    assert audit_log_prune() == 1  # the daily task uses AUDIT_RETENTION_DAYS (365)


def test_export_json_and_csv_for_organisation_admins_only() -> None:
    owner, project = member_with_project()
    for zone in ("Europe/Paris", "Asia/Tokyo"):
        logged_in(owner).patch(f"/api/v1/projects/{project.id}", {"timezone": zone}, format="json")
    other_owner, other_project = member_with_project()
    logged_in(other_owner).patch(f"/api/v1/projects/{other_project.id}", {"timezone": "UTC"}, format="json")
    url = f"/api/v1/organisations/{project.organisation_id}/audit-log"
    response = logged_in(owner).get(url)
    assert response.status_code == 200
    rows = json.loads(b"".join(response.streaming_content))
    expected = list(
        AuditEntry.objects.filter(organisation_id=project.organisation_id)
        .order_by("created_at", "id")
        .values_list("id", flat=True)
    )
    assert [row["id"] for row in rows] == expected
    assert len(expected) == 2
    assert [row["changes"][0]["fields"]["timezone"][1] for row in rows] == ["Europe/Paris", "Asia/Tokyo"]
    as_csv = logged_in(owner).get(url, {"output": "csv"})
    assert as_csv.status_code == 200
    assert as_csv["Content-Type"].startswith("text/csv")
    parsed = list(csv.DictReader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
    assert [int(row["id"]) for row in parsed] == expected
    assert json.loads(parsed[1]["changes"])[0]["fields"]["timezone"] == ["Europe/Paris", "Asia/Tokyo"]
    # A range that ends before the first entry is empty.
    first = AuditEntry.objects.get(pk=expected[0]).created_at
    early = logged_in(owner).get(url, {"to": first.isoformat()})
    assert json.loads(b"".join(early.streaming_content)) == []
    # Bad input names the field; other organisations 404; members who do not manage 403.
    bad = logged_in(owner).get(url, {"from": "yesterday"})
    assert bad.status_code == 400
    assert "from" in bad.json()["error"]["fields"]
    assert logged_in(owner).get(url, {"output": "xml"}).status_code == 400
    assert logged_in(other_owner).get(url).status_code == 404
    viewer = UserFactory()
    MembershipFactory(user=viewer, organisation=project.organisation, role=Role.VIEWER)
    assert logged_in(viewer).get(url).status_code == 403
    # A key needs the admin scope.
    _, read_key = personal_api_key_create(user=owner, label="r")
    _, admin_key = personal_api_key_create(user=owner, label="a", scope="admin")
    for raw_key, status in ((read_key, 403), (admin_key, 200)):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        assert client.get(url).status_code == status
    assert Project.objects.filter(pk=project.pk, timezone="Asia/Tokyo").exists()


def test_the_export_command_writes_the_same_rows_with_a_progress_bar(tmp_path: Any) -> None:
    owner, project = member_with_project()
    for days in (30, 60):
        logged_in(owner).patch(f"/api/v1/projects/{project.id}", {"retention_days": days}, format="json")
    target = tmp_path / "audit.csv"
    output = io.StringIO()
    call_command("audit_export", "--organisation", str(project.organisation_id), "--output", str(target), stdout=output)
    rows = list(csv.DictReader(target.open()))
    expected = AuditEntry.objects.filter(organisation_id=project.organisation_id).order_by("created_at", "id")
    assert [int(row["id"]) for row in rows] == [entry.pk for entry in expected]
    assert len(rows) == 2
    assert "2/2" in output.getvalue()
    assert "wrote 2 entries" in output.getvalue()
    with pytest.raises(CommandError, match="no organisation"):
        call_command("audit_export", "--organisation", "999999999", stdout=io.StringIO())


def test_a_change_through_the_asgi_handler_is_recorded() -> None:
    """`serve` runs Django under ASGI, where sync middleware and views run in other threads."""
    owner, project = member_with_project(timezone="UTC")
    access = str(UserRefreshToken.for_user(owner).access_token)
    client = AsyncClient()
    response = async_to_sync(client.patch)(
        f"/api/v1/projects/{project.id}",
        data={"timezone": "America/New_York"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {access}", "User-Agent": BROWSER},
    )
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get()
    assert (entry.actor_id, entry.user_agent) == (owner.pk, BROWSER)
    assert entry.changes[0]["fields"] == {"timezone": ["UTC", "America/New_York"]}


def test_admin_deletes_are_recorded_and_bulk_models_keep_fast_deletes() -> None:
    operator = User.objects.create_superuser(email="root@example.com", password="an-operator-passphrase")
    client = Client()
    client.force_login(operator)
    _, project = member_with_project()
    extra = MembershipFactory(user=UserFactory(), organisation=project.organisation, role=Role.VIEWER)
    url = reverse("admin:accounts_membership_delete", args=[extra.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    entry = AuditEntry.objects.get(path=url)
    [change] = [c for c in entry.changes if c["model"] == "accounts.membership"]
    assert change["action"] == "deleted"
    assert change["fields"]["role"] == ["viewer", None]
    assert entry.organisation_id == project.organisation_id
    # Rollups are deleted in bulk (cascades from a project): no receiver may slow them down.
    assert not post_delete.has_listeners(Rollup)
    assert post_delete.has_listeners(Membership)


def test_event_intake_with_a_write_key_is_not_audited(project: Project, post: Any) -> None:
    response = post({"event": "page_view", "distinct_id": "u1"}, key=project.write_key)
    assert response.status_code == 202, response.content
    assert AuditEntry.objects.count() == 0


def test_retention_runs_daily_from_the_beat_schedule() -> None:
    task = PeriodicTask.objects.select_related("interval").get(task="analytics.audit.tasks.audit_log_prune")
    assert task.enabled
    assert task.interval is not None
    assert (task.interval.every, task.interval.period) == (1, "days")
    app.loader.import_default_modules()
    assert task.task in app.tasks  # the embedded beat and Celery find it by this name
