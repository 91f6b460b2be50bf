"""`manage.py bootstrap` (run by `make run`): admin, demo project, demo events, once."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

from analytics.accounts.models import Project, User
from analytics.platform.demo import demo_events
from analytics.warehouse.guard import Query

pytestmark = pytest.mark.django_db


def events_by_name(store: object, project_id: int) -> dict[str, int]:
    result = store.query(
        Query(
            name="test.bootstrap.counts",
            sql="SELECT event, count() FROM events WHERE project_id = {project_id:UInt64} GROUP BY event",
            params={"project_id": project_id},
        )
    )
    return dict(result.rows())


def test_first_run_creates_admin_project_and_events_then_reruns_change_nothing(store: object, tmp_path: Path) -> None:
    with override_settings(DATA_DIR=tmp_path):
        first = io.StringIO()
        call_command("bootstrap", events=2_000, stdout=first)
        second = io.StringIO()
        call_command("bootstrap", events=2_000, stdout=second)

    admin = User.objects.get(is_superuser=True)
    credentials = (tmp_path / "admin-credentials.txt").read_text()
    password = credentials.split("password: ")[1].strip()
    assert admin.check_password(password)
    assert oct((tmp_path / "admin-credentials.txt").stat().st_mode & 0o777) == "0o600"
    assert password in first.getvalue()
    assert password not in second.getvalue()
    assert "/admin/" in first.getvalue()

    project = Project.objects.get()
    assert project.organisation.memberships.get(user=admin).role == "owner"
    counts = events_by_name(store, project.id)
    assert sum(counts.values()) == 2_000
    assert {"$pageview", "signup", "CALL_OUT", "DATA"} <= set(counts)
    assert User.objects.filter(is_superuser=True).count() == 1


def test_demo_data_has_both_domains_with_their_measures() -> None:
    events = list(demo_events(5_000, now=datetime(2026, 6, 1, tzinfo=UTC)))
    assert len(events) == 5_000
    assert len({event["event_id"] for event in events}) == 5_000
    purchases = [event for event in events if event["event"] == "purchase"]
    assert purchases
    assert all(event["properties"]["revenue"] > 0 for event in purchases)
    data = next(event for event in events if event["event"] == "DATA")
    assert {"duration_sec", "bytes_up", "bytes_down", "started_at", "ended_at", "meta"} <= set(data["properties"])
    assert min(event["timestamp"] for event in events) >= "2026-03-03"
    assert max(event["timestamp"] for event in events) < "2026-06-01"  # nothing in the future
