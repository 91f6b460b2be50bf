"""Saved reports: CRUD, run by id, templates, roles, tenant isolation, admin, OpenAPI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.accounts.models import Membership, Role
from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from analytics.query.models import SavedReport
from tests.factories import UserFactory, member_with_project
from tests.warehouse.helpers import event_row

NOW = datetime.now(UTC).replace(microsecond=0)
TREND = {"series": [{"event": "signup"}], "interval": "day", "from": "-2d"}


def jwt(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {UserRefreshToken.for_user(user).access_token}"}


@pytest.fixture
def team(db: None, store: Any) -> dict[str, Any]:
    owner, project = member_with_project(timezone="America/New_York")
    users = {"owner": owner}
    for role in (Role.ADMIN, Role.MEMBER, Role.VIEWER):
        users[role] = UserFactory()
        Membership.objects.create(user=users[role], organisation=project.organisation, role=role)
    users["member2"] = UserFactory()
    Membership.objects.create(user=users["member2"], organisation=project.organisation, role=Role.MEMBER)
    moment = NOW - timedelta(hours=1)
    rows = [event_row(project.id, event="signup", timestamp=moment, received_at=moment) for _ in range(2)]
    store.insert_events(rows, dedup_token=f"saved-{project.id}")
    return {"project": project, "users": users}


def url(project: Any, suffix: str = "") -> str:
    return f"/api/v1/projects/{project.id}/reports/{suffix}"


def create(client: Any, project: Any, user: Any, **fields: Any) -> Any:
    body = {"name": "Signups", "kind": "trends", "query": TREND, **fields}
    return client.post(url(project), data=body, content_type="application/json", headers=jwt(user))


def test_crud_round_trip(team, client):
    project, owner = team["project"], team["users"]["owner"]

    created = create(client, project, owner, description="daily", tags=["growth", " growth ", "kpi"])
    assert created.status_code == 201, created.content
    report = created.json()
    assert report["owner"]["id"] == owner.id
    assert report["tags"] == ["growth", "kpi"]
    assert report["query"] == TREND

    fetched = client.get(url(project, str(report["id"])), headers=jwt(owner)).json()
    assert fetched == report

    patched = client.patch(
        url(project, str(report["id"])),
        data={"name": "Signups (daily)"},
        content_type="application/json",
        headers=jwt(owner),
    )
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Signups (daily)"
    assert patched.json()["query"] == TREND
    assert patched.json()["updated_at"] >= report["updated_at"]

    replaced = client.put(
        url(project, str(report["id"])),
        data={"name": "Lifecycle", "kind": "lifecycle", "query": {"interval": "week", "from": "-8w"}},
        content_type="application/json",
        headers=jwt(owner),
    )
    assert replaced.status_code == 200, replaced.content
    assert (replaced.json()["kind"], replaced.json()["tags"], replaced.json()["description"]) == ("lifecycle", [], "")

    assert client.delete(url(project, str(report["id"])), headers=jwt(owner)).status_code == 204
    assert client.get(url(project, str(report["id"])), headers=jwt(owner)).status_code == 404


def test_list_is_paginated_newest_first_and_filters_by_kind_and_tag(team, client):
    project, owner = team["project"], team["users"]["owner"]
    for number in range(3):
        create(client, project, owner, name=f"trend {number}", tags=["a"] if number else ["b"])
    create(client, project, owner, name="top", kind="top_events", query={"from": "-7d"}, tags=["a"])

    page = client.get(url(project), {"page_size": 2}, headers=jwt(owner)).json()
    rest = client.get(page["next"], headers=jwt(owner)).json()
    trends_only = client.get(url(project), {"kind": "trends"}, headers=jwt(owner)).json()["results"]
    tagged = client.get(url(project), {"tag": "a"}, headers=jwt(owner)).json()["results"]

    assert [r["name"] for r in page["results"] + rest["results"]] == ["top", "trend 2", "trend 1", "trend 0"]
    assert rest["next"] is None
    assert {r["name"] for r in trends_only} == {"trend 0", "trend 1", "trend 2"}
    assert {r["name"] for r in tagged} == {"top", "trend 1", "trend 2"}


def test_list_filters_with_a_nul_or_too_long_are_refused_with_400(team, client):
    """A NUL reaches PostgreSQL as a DataError (a 500) unless the filter is checked first."""
    project, owner = team["project"], team["users"]["owner"]
    create(client, project, owner, tags=["a"])
    for params in ({"kind": "\x00"}, {"tag": "a\x00"}, {"kind": "k" * 41}, {"tag": "t" * 1000}):
        response = client.get(url(project), params, headers=jwt(owner))
        assert response.status_code == 400, (params, response.content)
        assert set(response.json()["error"]["fields"]) == set(params)
    assert len(client.get(url(project), {"tag": "a"}, headers=jwt(owner)).json()["results"]) == 1


def test_a_saved_report_runs_by_id_through_the_cache(team, client):
    project, owner = team["project"], team["users"]["owner"]
    report = create(client, project, owner).json()
    results = url(project, f"{report['id']}/results")

    first = client.get(results, headers=jwt(owner)).json()
    second = client.get(results, headers=jwt(owner)).json()
    refreshed = client.get(results, {"refresh": "true"}, headers=jwt(owner)).json()

    assert first["series"][0]["total"] == 2
    assert first["time_zone"] == "America/New_York"
    assert first["report"] == {"id": report["id"], "name": "Signups", "kind": "trends"}
    assert (first["cached"], second["cached"], refreshed["cached"]) == (False, True, False)
    assert second["computed_at"] == first["computed_at"]


def test_the_same_query_in_the_trends_endpoint_and_a_report_share_the_cache(team, client):
    project, owner = team["project"], team["users"]["owner"]
    report = create(client, project, owner).json()
    client.get(url(project, f"{report['id']}/results"), headers=jwt(owner))

    response = client.post(
        f"/api/v1/projects/{project.id}/insights/trends",
        data=TREND,
        content_type="application/json",
        headers=jwt(owner),
    )

    assert response.json()["cached"] is True


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"kind": "histogram"}, ["kind"]),
        ({"query": {"series": [{"event": "a", "math": "p95"}]}}, ["query", "series", "0", "property"]),
        ({"query": {"series": []}}, ["query", "series"]),
        ({"query": [1, 2]}, ["query"]),
        ({"kind": "lifecycle", "query": {"interval": "minute"}}, ["query", "interval"]),
        ({"name": ""}, ["name"]),
        ({"tags": ["x" * 51]}, ["tags"]),
        ({"tags": "growth"}, ["tags"]),
    ],
)
def test_bad_reports_are_400_naming_the_field(team, client, body, path):
    project, owner = team["project"], team["users"]["owner"]

    response = create(client, project, owner, **body)

    assert response.status_code == 400, response.content
    node = response.json()["error"]["fields"]
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert node


def test_roles_decide_who_writes(team, client):
    project, users = team["project"], team["users"]
    report = create(client, project, users[Role.MEMBER]).json()
    detail = url(project, str(report["id"]))

    def rename(user: Any) -> int:
        return client.patch(detail, data={"name": "x"}, content_type="application/json", headers=jwt(user)).status_code

    assert create(client, project, users[Role.VIEWER]).status_code == 403
    assert client.get(url(project, f"{report['id']}/results"), headers=jwt(users[Role.VIEWER])).status_code == 200
    assert rename(users["member2"]) == 403  # another member's report
    assert rename(users[Role.VIEWER]) == 403
    assert rename(users[Role.MEMBER]) == 200
    assert rename(users[Role.ADMIN]) == 200
    assert client.delete(detail, headers=jwt(users["member2"])).status_code == 403
    assert client.delete(detail, headers=jwt(users["owner"])).status_code == 204


def test_a_personal_api_key_reads_and_runs_but_cannot_write(team, client):
    project, owner = team["project"], team["users"]["owner"]
    report = create(client, project, owner).json()
    _, raw_key = personal_api_key_create(user=owner, label="read")
    key = {"Authorization": f"Bearer {raw_key}"}

    assert client.get(url(project), headers=key).status_code == 200
    assert client.get(url(project, f"{report['id']}/results"), headers=key).status_code == 200
    body = {"name": "x", "kind": "trends", "query": TREND}
    assert client.post(url(project), data=body, content_type="application/json", headers=key).status_code == 403


def test_another_projects_reports_are_not_found(team, client):
    project, owner = team["project"], team["users"]["owner"]
    report = create(client, project, owner).json()
    stranger, own_project = member_with_project()
    own_report = create(client, own_project, stranger).json()

    for path in ("", str(report["id"]), f"{report['id']}/results", "templates"):
        assert client.get(url(project, path), headers=jwt(stranger)).status_code == 404
    # Their own project id with our report id: still not found.
    assert client.get(url(own_project, str(report["id"])), headers=jwt(stranger)).status_code == 404
    assert client.delete(url(own_project, str(report["id"])), headers=jwt(stranger)).status_code == 404
    assert [r["id"] for r in client.get(url(own_project), headers=jwt(stranger)).json()["results"]] == [
        own_report["id"]
    ]
    assert SavedReport.objects.filter(pk=report["id"]).exists()


def test_every_template_saves_and_runs(team, client):
    project, owner = team["project"], team["users"]["owner"]

    templates = client.get(url(project, "templates"), headers=jwt(owner)).json()

    kinds = {template["kind"] for template in templates}
    assert {
        "trends",
        "active_users",
        "revenue",
        "stickiness",
        "lifecycle",
        "top_events",
        "top_pages",
        "top_referrers",
    } <= kinds
    for template in templates:
        saved = create(client, project, owner, name=template["name"], kind=template["kind"], query=template["query"])
        assert saved.status_code == 201, (template["key"], saved.content)
        results = client.get(url(project, f"{saved.json()['id']}/results"), headers=jwt(owner))
        assert results.status_code == 200, (template["key"], results.content)
        assert results.json()["cached"] is False


def test_admin_lists_saved_reports(team, client):
    project, owner = team["project"], team["users"]["owner"]
    create(client, project, owner, name="Weekly signups")
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)

    listing = client.get("/admin/query/savedreport/", {"q": "weekly"})
    report = SavedReport.objects.get(name="Weekly signups")
    change = client.get(f"/admin/query/savedreport/{report.id}/change/")

    assert listing.status_code == 200
    assert b"Weekly signups" in listing.content
    assert change.status_code == 200
    assert b'name="owner"' not in change.content  # read-only


def test_openapi_documents_reports_and_presets(client):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    assert {"get", "post"} <= set(paths["/api/v1/projects/{project_id}/reports/"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/projects/{project_id}/reports/{report_id}"])
    assert "get" in paths["/api/v1/projects/{project_id}/reports/{report_id}/results"]
    assert "get" in paths["/api/v1/projects/{project_id}/reports/templates"]
    for preset in ("active-users", "revenue", "stickiness", "lifecycle", "top-events", "top-pages", "top-referrers"):
        operation = paths[f"/api/v1/projects/{{project_id}}/insights/{preset}"]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]


def test_the_admin_refuses_a_query_its_kind_rejects(team, client):
    project, owner = team["project"], team["users"]["owner"]
    create(client, project, owner, name="Editable")
    report = SavedReport.objects.get(name="Editable")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    form = {
        "project": project.id,
        "name": "Editable",
        "description": "",
        "kind": "trends",
        "query": '{"series": [{"event": "a", "math": "p95"}]}',
        "tags": "[]",
    }

    refused = client.post(f"/admin/query/savedreport/{report.id}/change/", form)
    accepted = client.post(
        f"/admin/query/savedreport/{report.id}/change/",
        {**form, "query": '{"series": [{"event": "a"}]}', "tags": '["x"]'},
    )

    assert refused.status_code == 200  # the form again, with the error
    assert b"property" in refused.content
    assert accepted.status_code == 302
    report.refresh_from_db()
    assert (report.query, report.tags, report.owner_id) == ({"series": [{"event": "a"}]}, ["x"], owner.id)
