"""The pages over HTTP: log-in redirect, the remembered project, 404 for non-members on every
page and card, the settings forms (rights, validation naming the field), password change,
date ranges, and the error box of a card whose store query fails."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from analytics.accounts.models import Membership, Role
from analytics.dashboards.ranges import page_range
from analytics.dashboards.views.web import DIMENSIONS
from analytics.warehouse import store as store_module
from analytics.warehouse.store import EventStore
from analytics.warehouse.transports.native import NativeTransport
from tests.dashboards.conftest import iso, logged_in, store_events
from tests.factories import MembershipFactory, ProjectFactory, UserFactory, member_with_project

pytestmark = pytest.mark.django_db


def page_paths(project_id: int) -> list[str]:
    base = f"/projects/{project_id}"
    return [
        f"{base}/",
        f"{base}/live.json",
        f"{base}/cards/summary/",
        f"{base}/cards/timeseries/",
        f"{base}/cards/events/",
        f"{base}/cards/top-users/",
        f"{base}/web/",
        f"{base}/web/cards/summary/",
        *[f"{base}/web/cards/{dimension}/" for dimension in DIMENSIONS],
        f"{base}/users/",
        f"{base}/users/someone/",
        f"{base}/users/someone/timeline/",
        f"{base}/settings/",
    ]


@pytest.fixture
def owner_project(store: Any) -> tuple[Any, Any]:
    user, project = member_with_project()
    now = datetime.now(UTC)
    store_events(
        project,
        [
            {
                "event": "page_view",
                "distinct_id": "someone",
                "timestamp": iso(now - timedelta(minutes=n)),
                "properties": {"$current_url": f"https://x.test/p{n % 3}"},
            }
            for n in range(30)
        ],
    )
    return user, project


def test_logged_out_visitors_go_to_the_log_in_page() -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert response.url.startswith("/login/?next=/")


def test_every_page_and_card_answers_a_member(owner_project: tuple[Any, Any]) -> None:
    user, project = owner_project
    client = logged_in(user)
    for path in page_paths(project.id):
        assert client.get(path).status_code == 200, path


def test_a_non_member_gets_404_everywhere(owner_project: tuple[Any, Any]) -> None:
    _, project = owner_project
    client = logged_in(UserFactory())
    for path in page_paths(project.id):
        assert client.get(path).status_code == 404, path
    for path in ("settings/", "settings/rotate-key/", "settings/role/", "settings/telecom/"):
        assert client.post(f"/projects/{project.id}/{path}").status_code == 404, path


def test_home_shows_the_last_project_opened(owner_project: tuple[Any, Any]) -> None:
    user, first = owner_project
    second = ProjectFactory(organisation=first.organisation, name="Zzz second")
    client = logged_in(user)
    assert 'aria-current="page">Overview' in client.get("/").content.decode()
    assert client.get(f"/projects/{second.id}/").status_code == 200  # opened: remembered
    home = client.get("/").content.decode()
    assert "Send your first event to Zzz second" in home  # its empty state, with the write key
    assert second.write_key in home


def test_a_user_without_projects_sees_how_to_get_one(db: None) -> None:
    content = logged_in(UserFactory()).get("/").content.decode()
    assert "No projects yet" in content


def test_settings_save_and_name_the_bad_field(owner_project: tuple[Any, Any]) -> None:
    user, project = owner_project
    client = logged_in(user)
    url = f"/projects/{project.id}/settings/"
    bad = client.post(
        url, {"name": "Shop", "timezone": "Mars/Base", "retention_days": "0", "session_timeout_minutes": "1441"}
    )
    assert bad.status_code == 400
    assert bad.context["form"].errors.keys() == {"timezone", "retention_days", "session_timeout_minutes"}
    good = client.post(
        url, {"name": "Shop", "timezone": "Europe/Berlin", "retention_days": "90", "session_timeout_minutes": "45"}
    )
    assert good.status_code == 302
    project.refresh_from_db()
    assert (project.name, project.timezone, project.retention_days) == ("Shop", "Europe/Berlin", 90)
    assert (project.session_timeout_minutes, project.session_split_at_midnight) == (45, False)  # unticked box


def test_viewers_read_settings_but_cannot_change_them(owner_project: tuple[Any, Any]) -> None:
    _, project = owner_project
    viewer = MembershipFactory(organisation=project.organisation, role=Role.VIEWER).user
    client = logged_in(viewer)
    url = f"/projects/{project.id}/settings/"
    assert "disabled" in client.get(url).content.decode()
    refused = client.post(
        url, {"name": "Hijacked", "timezone": "UTC", "retention_days": "30", "session_timeout_minutes": "30"}
    )
    assert refused.status_code == 403
    old_key = project.write_key
    client.post(f"/projects/{project.id}/settings/rotate-key/")
    project.refresh_from_db()
    assert project.name != "Hijacked"
    assert project.write_key == old_key


def test_rotating_the_write_key_and_changing_roles(owner_project: tuple[Any, Any]) -> None:
    owner, project = owner_project
    client = logged_in(owner)
    old_key = project.write_key
    assert client.post(f"/projects/{project.id}/settings/rotate-key/").status_code == 302
    project.refresh_from_db()
    assert project.write_key != old_key

    member = MembershipFactory(organisation=project.organisation, role=Role.MEMBER)
    role_url = f"/projects/{project.id}/settings/role/"
    client.post(role_url, {"membership": member.id, "role": Role.ADMIN})
    member.refresh_from_db()
    assert member.role == Role.ADMIN
    mine = Membership.objects.get(user=owner, organisation=project.organisation)
    client.post(role_url, {"membership": mine.id, "role": Role.MEMBER})  # the last owner stays
    mine.refresh_from_db()
    assert mine.role == Role.OWNER
    admin_client = logged_in(member.user)
    admin_client.post(role_url, {"membership": mine.id, "role": Role.VIEWER})  # admins cannot unmake owners
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_installing_the_telecom_schemas(owner_project: tuple[Any, Any]) -> None:
    owner, project = owner_project
    client = logged_in(owner)
    client.post(f"/projects/{project.id}/settings/telecom/")
    content = client.get(f"/projects/{project.id}/settings/").content.decode()
    assert "CALL_OUT" in content
    assert "duration_sec" in content


def test_password_change(db: None) -> None:
    user = UserFactory()
    client = logged_in(user)
    response = client.post(
        "/account/password/",
        {
            "old_password": "correct-horse-battery-staple",
            "new_password1": "a-new-long-pass-phrase-9",
            "new_password2": "a-new-long-pass-phrase-9",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-long-pass-phrase-9")


def test_a_card_whose_store_is_unreachable_shows_an_error_box(owner_project: tuple[Any, Any], monkeypatch: Any) -> None:
    user, project = owner_project
    with socket.socket() as sock:  # a port nothing listens on once the block ends
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = NativeTransport.from_url(
        f"clickhouse://default@127.0.0.1:{port}/default", query_timeout=2, connect_timeout=1
    )
    # A real store whose server is down takes the place of the process's store for this request.
    monkeypatch.setattr(store_module, "_store", EventStore(transport, retries=0))
    response = logged_in(user).get(f"/projects/{project.id}/cards/events/")
    assert response.status_code == 503
    assert "could not be loaded" in response.content.decode()


def test_ranges_from_the_url() -> None:
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    week = page_range({"range": "7d"}, "Europe/Berlin", now=now)  # type: ignore[arg-type]
    assert (week.start.isoformat(), week.end.isoformat(), week.interval) == (
        "2026-03-22T23:00:00+00:00",
        "2026-03-29T22:00:00+00:00",
        "day",
    )
    assert week.includes_now
    today = page_range({"range": "today", "compare": "1"}, "UTC", now=now)  # type: ignore[arg-type]
    assert (today.interval, today.compare, today.previous().start.isoformat()) == (
        "hour",
        True,
        "2026-03-28T00:00:00+00:00",
    )
    custom = page_range({"range": "custom", "from": "2026-01-01", "to": "2026-01-31"}, "UTC", now=now)  # type: ignore[arg-type]
    assert (custom.start.isoformat(), custom.end.isoformat(), custom.includes_now) == (
        "2026-01-01T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
        False,
    )
    backwards = page_range({"range": "custom", "from": "2026-02-01", "to": "2026-01-01"}, "UTC", now=now)  # type: ignore[arg-type]
    assert (backwards.key, backwards.error) == ("7d", "the range ends before it starts; showing the last 7 days")
    assert page_range({"range": "bogus"}, "UTC", now=now).error  # type: ignore[arg-type]
