"""The segments API: CRUD, bad input with paths, members, sizes, CSV, imports, isolation."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.exceptions import NotFound

from analytics.accounts.models import Role
from analytics.accounts.services import personal_api_key_create
from analytics.query.compiler.params import Params
from analytics.query.membership import SegmentMissing, segment_membership_sql
from analytics.segments import services
from analytics.segments.models import Segment
from analytics.streams.persons import PERSONS_SCHEMA
from analytics.warehouse.guard import Query
from analytics.warehouse.identity import person_id_for
from tests.factories import MembershipFactory, member_with_project
from tests.warehouse.helpers import event_row

NOW = datetime.now(UTC).replace(microsecond=0)
BUYERS = {
    "op": "and",
    "conditions": [
        {
            "kind": "behavioral",
            "event": "purchase",
            "filters": [],
            "count_operator": "gte",
            "count": 2,
            "within_days": 30,
        }
    ],
}


@pytest.fixture
def setup(db: None, store: Any, client: Any) -> tuple[Any, Any]:
    owner, project = member_with_project()
    client.force_login(owner)
    rows = []
    for index in range(12):
        distinct_id = f"u{index}"
        person = person_id_for(project.id, distinct_id)
        for days in range(index % 4):  # u1: 1 purchase, u2: 2, u3: 3, u4: 0 ...
            moment = NOW - timedelta(days=days + 1, hours=3)
            rows.append(
                event_row(
                    project.id,
                    event="purchase",
                    distinct_id=distinct_id,
                    person_id=person,
                    timestamp=moment,
                    received_at=moment,
                )
            )
        moment = NOW - timedelta(hours=1)
        rows.append(
            event_row(project.id, distinct_id=distinct_id, person_id=person, timestamp=moment, received_at=moment)
        )
    store.insert_events(rows, dedup_token=f"segments-api-{project.id}")
    return owner, project


def _buyers(project: Any) -> set[str]:
    return {person_id_for(project.id, f"u{index}") for index in range(12) if index % 4 >= 2}


def _nested(levels: int) -> dict[str, Any]:
    group: dict[str, Any] = {"op": "and", "conditions": []}
    for _ in range(levels - 1):
        group = {"op": "and", "conditions": [group]}
    return group


def url(project: Any, tail: str = "") -> str:
    return f"/api/v1/projects/{project.id}/segments/{tail}"


def test_create_read_update_delete(setup, client):
    _, project = setup
    created = client.post(url(project), {"name": "Buyers", "definition": BUYERS}, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Buyers"
    assert body["static"] is False
    assert body["definition"]["conditions"][0]["count"] == 2
    sid = body["id"]

    assert [item["id"] for item in client.get(url(project)).json()] == [sid]
    patched = client.patch(url(project, f"{sid}/"), {"name": "Big buyers"}, content_type="application/json")
    assert patched.status_code == 200
    assert client.get(url(project, f"{sid}/")).json()["name"] == "Big buyers"

    size = client.get(url(project, f"{sid}/size")).json()
    assert size["size"] == len(_buyers(project))
    assert size["materialised"] is False
    assert datetime.fromisoformat(size["computed_at"].replace("Z", "+00:00")) >= NOW

    assert client.delete(url(project, f"{sid}/")).status_code == 204
    assert client.get(url(project, f"{sid}/")).status_code == 404


@pytest.mark.parametrize(
    ("definition", "path"),
    [
        (
            {
                "op": "and",
                "conditions": [
                    {},
                    {},
                    {"op": "or", "conditions": [{"kind": "person", "key": "plan", "operator": "like", "value": 1}]},
                ],
            },
            "conditions[2].conditions[0].operator",
        ),
        ({"op": "xor", "conditions": []}, "op"),
        ({"op": "and", "conditions": [{"kind": "planet"}]}, "conditions[0].kind"),
        (
            {"op": "and", "conditions": [{"kind": "person", "key": "plan", "operator": "in", "value": "pro"}]},
            "conditions[0].value",
        ),
        (
            {"op": "and", "conditions": [{"kind": "behavioral", "event": "x", "count_operator": "about"}]},
            "conditions[0].count_operator",
        ),
        (
            {"op": "and", "conditions": [{"kind": "behavioral", "event": "x", "within_days": 0}]},
            "conditions[0].within_days",
        ),
        (
            {"op": "and", "conditions": [{"kind": "behavioral", "event": "x", "within_days": 3, "from": "2026-01-01"}]},
            "conditions[0].within_days",
        ),
        (
            {
                "op": "and",
                "conditions": [{"kind": "behavioral", "event": "x", "from": "yesterday", "to": "2026-02-01"}],
            },
            "conditions[0].from",
        ),
        (
            {
                "op": "and",
                "conditions": [
                    {"kind": "behavioral", "event": "x", "filters": [{"key": "a", "operator": "gt", "value": "x"}]}
                ],
            },
            "conditions[0].filters[0].value",
        ),
        (
            {
                "op": "and",
                "conditions": [{"kind": "behavioral", "behavior": "sequence", "event": "a", "then_event": "b"}],
            },
            "conditions[0].window_seconds",
        ),
        (
            {"op": "and", "conditions": [{"kind": "behavioral", "behavior": "last_seen"}]},
            "conditions[0].more_than_days",
        ),
        ({"op": "and", "conditions": [{"kind": "segment", "segment": "12"}]}, "conditions[0].segment"),
        ({"op": "and", "conditions": [{"kind": "segment", "segment": 987654}]}, "conditions[0].segment"),
        (
            {"op": "and", "conditions": [{"kind": "person", "key": "a", "operator": "regex", "value": "(?=x)"}]},
            "conditions[0].value",
        ),
        (_nested(6), ".".join(["conditions[0]"] * 5)),
        ({"op": "and", "conditions": [{"kind": "person", "key": "a", "operator": "is_set"}] * 51}, "conditions[50]"),
        ([{"kind": "person"}], "definition"),
    ],
)
def test_an_invalid_definition_is_a_400_naming_the_path(setup, client, definition, path):
    _, project = setup
    response = client.post(url(project), {"name": "bad", "definition": definition}, content_type="application/json")
    assert response.status_code == 400, response.content
    fields = response.json()["error"]["fields"]["definition"]
    assert path in fields, fields
    assert not Segment.objects.filter(project=project).exists()


def test_depth_five_and_fifty_conditions_are_allowed(setup, client):
    _, project = setup
    deep: dict[str, Any] = {"kind": "person", "key": "a", "operator": "is_set"}
    for _ in range(5):
        deep = {"op": "and", "conditions": [deep]}
    wide = {"op": "or", "conditions": [{"kind": "person", "key": "a", "operator": "is_set"}] * 50}
    for definition in (deep, wide):
        response = client.post(url(project), {"name": "ok", "definition": definition}, content_type="application/json")
        assert response.status_code == 201, response.content


def test_cycles_are_refused(setup, client):
    _, project = setup
    first = client.post(url(project), {"name": "a", "definition": BUYERS}, content_type="application/json").json()
    refers = {"op": "and", "conditions": [{"kind": "segment", "segment": first["id"]}]}
    second = client.post(url(project), {"name": "b", "definition": refers}, content_type="application/json").json()
    back = {
        "op": "and",
        "conditions": [
            {"kind": "person", "key": "x", "operator": "is_set"},
            {"kind": "segment", "segment": second["id"]},
        ],
    }
    response = client.patch(url(project, f"{first['id']}/"), {"definition": back}, content_type="application/json")
    assert response.status_code == 400
    assert "cycle" in response.json()["error"]["fields"]["definition"]["conditions[1].segment"][0]
    itself = {"op": "and", "conditions": [{"kind": "segment", "segment": first["id"]}]}
    response = client.patch(url(project, f"{first['id']}/"), {"definition": itself}, content_type="application/json")
    assert response.status_code == 400
    assert "conditions[0].segment" in response.json()["error"]["fields"]["definition"]


def test_static_and_definition_together_or_neither_are_400(setup, client):
    _, project = setup
    both = client.post(
        url(project), {"name": "x", "static": True, "definition": BUYERS}, content_type="application/json"
    )
    neither = client.post(url(project), {"name": "x"}, content_type="application/json")
    assert both.status_code == 400
    assert neither.status_code == 400
    assert "definition" in neither.json()["error"]["fields"]


def test_members_pages_with_a_cursor_carry_person_properties(setup, client, store):
    _, project = setup

    buyer = sorted(_buyers(project))[0]
    store.insert_arrow(
        "persons",
        pa.Table.from_pylist(
            [
                {
                    "project_id": project.id,
                    "person_id": buyer,
                    "properties": '{"plan": "pro"}',
                    "created_at": NOW,
                    "version": 1,
                    "is_deleted": 0,
                }
            ],
            schema=PERSONS_SCHEMA,
        ),
    )
    sid = client.post(url(project), {"name": "b", "definition": BUYERS}, content_type="application/json").json()["id"]
    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        body = client.get(url(project, f"{sid}/members{query}")).json()
        seen += body["results"]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert {member["person_id"] for member in seen} == _buyers(project)
    assert len(seen) == len(_buyers(project))
    assert pages >= 3
    by_id = {member["person_id"]: member for member in seen}
    assert by_id[buyer]["properties"] == {"plan": "pro"}
    assert all(member["distinct_id"].startswith("u") and member["last_seen"] for member in seen)
    assert client.get(url(project, f"{sid}/members?cursor=nonsense")).status_code == 400
    assert client.get(url(project, f"{sid}/members?limit=0")).status_code == 400

    exported = b"".join(client.get(url(project, f"{sid}/members.csv")).streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {row["person_id"] for row in rows} == _buyers(project)


def test_csv_import_reports_bad_rows_and_imports_good_ones(setup, client, store, django_capture_on_commit_callbacks):
    _, project = setup
    sid = client.post(url(project), {"name": "list", "static": True}, content_type="application/json").json()["id"]
    content = "distinct_id,note\nu1,a\n,empty\nu2,b\n" + "x" * 201 + ",long\nu1,again\nnew-person,c\n"
    upload = SimpleUploadedFile("ids.csv", content.encode(), content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(project, f"{sid}/imports"), {"file": upload})
    assert response.status_code == 202, response.content
    job = client.get(f"/api/v1/projects/{project.id}/segment-imports/{response.json()['id']}").json()
    assert job["state"] == "done"
    assert job["progress"] == {"processed": 6, "total": 6, "fraction": 1.0}
    assert job["errors"] == [
        {"line": 3, "error": "empty distinct id"},
        {"line": 5, "error": "distinct id longer than 200 characters"},
    ]
    assert job["imported_rows"] == 4
    expected = {person_id_for(project.id, name) for name in ("u1", "u2", "new-person")}
    members = client.get(url(project, f"{sid}/members?limit=100")).json()["results"]
    assert {member["person_id"] for member in members} == expected
    assert {member["distinct_id"] for member in members} == {"u1", "u2", "new-person"}
    assert client.get(url(project, f"{sid}/size")).json()["size"] == 3
    sizes = client.get(url(project, f"{sid}/sizes")).json()
    assert len(sizes["points"]) == 90
    assert sizes["points"][-1] == {"day": NOW.date().isoformat(), "size": 3, "backfilled": False}
    assert sizes["missing_days"] == 0  # a list has no past to back-fill

    not_utf8 = SimpleUploadedFile("ids.csv", b"u1\n\xff\xfe\n", content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        failed = client.post(url(project, f"{sid}/imports"), {"file": not_utf8}).json()
    assert (
        client.get(f"/api/v1/projects/{project.id}/segment-imports/{failed['id']}").json()["message"]
        == "line 2: the file is not UTF-8 text"
    )


def test_segment_create_static_service_and_filter_resolution(setup, store):
    owner, project = setup
    segment = services.segment_create_static(
        project=project, name="from a funnel", distinct_ids=iter(["u0", "u5", "u5", ""]), created_by=owner
    )
    assert segment.is_static
    assert segment.size == 2
    params = Params(project_id=project.id)
    members = segment_membership_sql(project_id=project.id, segment_id=segment.id, params=params)
    rows = store.query(
        Query(
            name="t",
            sql=f"SELECT count() FROM events WHERE project_id = {{project_id:UInt64}} AND {members}",
            params=params.values,
        )
    )
    assert rows.scalar() == 3  # u0: a pageview; u5: a pageview and a purchase


def test_a_deleted_segment_is_a_400_for_the_query_layer(setup, client):
    _, project = setup
    sid = client.post(url(project), {"name": "b", "definition": BUYERS}, content_type="application/json").json()["id"]
    client.delete(url(project, f"{sid}/"))
    with pytest.raises(SegmentMissing, match=f"segment {sid} no longer exists"):
        segment_membership_sql(project_id=project.id, segment_id=sid, params=Params(project_id=project.id))


def test_tenant_isolation(setup, client):
    _, project = setup
    sid = client.post(url(project), {"name": "b", "definition": BUYERS}, content_type="application/json").json()["id"]
    stranger, other = member_with_project()
    client.force_login(stranger)
    for tail in (f"{sid}/", f"{sid}/members", f"{sid}/size", f"{sid}/sizes", f"{sid}/members.csv", ""):
        assert client.get(url(project, tail)).status_code == 404, tail
    # the stranger's own project does not see it either, and cannot refer to it
    assert client.get(url(other, f"{sid}/")).status_code == 404
    refer = {"op": "and", "conditions": [{"kind": "segment", "segment": sid}]}
    response = client.post(url(other), {"name": "x", "definition": refer}, content_type="application/json")
    assert response.status_code == 400
    assert "conditions[0].segment" in response.json()["error"]["fields"]["definition"]
    with pytest.raises(SegmentMissing):
        segment_membership_sql(project_id=other.id, segment_id=sid, params=Params(project_id=other.id))


def test_viewers_and_api_keys_read_but_do_not_write(setup, client):
    owner, project = setup
    sid = client.post(url(project), {"name": "b", "definition": BUYERS}, content_type="application/json").json()["id"]
    viewer = MembershipFactory(organisation=project.organisation, role=Role.VIEWER).user
    client.force_login(viewer)
    assert client.get(url(project, f"{sid}/")).status_code == 200
    assert (
        client.post(url(project), {"name": "v", "definition": BUYERS}, content_type="application/json").status_code
        == 403
    )
    assert client.delete(url(project, f"{sid}/")).status_code == 403
    _, raw = personal_api_key_create(user=owner, label="read")
    client.logout()
    headers = {"Authorization": f"Bearer {raw}"}
    assert client.get(url(project, f"{sid}/size"), headers=headers).status_code == 200
    assert client.delete(url(project, f"{sid}/"), headers=headers).status_code == 403


def test_templates_are_valid_definitions(setup, client):
    _, project = setup
    templates = client.get(url(project, "templates")).json()
    keys = {template["key"] for template in templates}
    assert {
        "new_users",
        "active_daily",
        "active_weekly",
        "active_monthly",
        "returning",
        "dormant",
        "power_users",
        "paying_customers",
    } <= keys
    for template in templates:
        response = client.post(
            url(project),
            {"name": template["name"], "definition": template["definition"]},
            content_type="application/json",
        )
        assert response.status_code == 201, (template["key"], response.content)


def test_the_schema_lists_the_endpoints(client, db):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    text = " ".join(paths)
    for path in (
        "/segments/",
        "/segments/{id}/members",
        "/segments/{id}/size",
        "/segments/templates",
        "/segments/{id}/imports",
        "/segment-imports/{id}",
    ):
        assert path in text, path


def test_uploads_over_the_row_limit_without_a_file_or_into_a_dynamic_segment_are_refused(
    setup, client, settings, django_capture_on_commit_callbacks
):
    _, project = setup
    settings.SEGMENT_IMPORT_MAX_ROWS = 3
    static = client.post(url(project), {"name": "s", "static": True}, content_type="application/json").json()["id"]
    dynamic = client.post(url(project), {"name": "d", "definition": BUYERS}, content_type="application/json").json()[
        "id"
    ]

    with django_capture_on_commit_callbacks(execute=True):
        job = client.post(url(project, f"{static}/imports"), {"file": SimpleUploadedFile("a.csv", b"a\nb\nc\nd\n")})
    done = client.get(f"/api/v1/projects/{project.id}/segment-imports/{job.json()['id']}").json()
    assert done["state"] == "failed"
    assert done["message"] == "the file has 4 rows; at most 3"
    assert client.get(url(project, f"{static}/size")).json()["size"] == 0

    missing = client.post(url(project, f"{static}/imports"), {})
    assert missing.status_code == 400
    assert "file" in missing.json()["error"]["fields"]
    wrong = client.post(url(project, f"{dynamic}/imports"), {"file": SimpleUploadedFile("a.csv", b"a\n")})
    assert wrong.status_code == 400
    assert "file" in wrong.json()["error"]["fields"]


def test_an_edit_or_upload_racing_a_delete_is_a_404_not_a_500(setup):
    _, project = setup
    dynamic = services.segment_create(project=project, name="buyers", definition=_nested(1))
    static = services.segment_create_static(project=project, name="list", distinct_ids=["u1"])
    # What a request holds when another one deletes the segment under it.
    stale_dynamic, stale_static = Segment.objects.get(id=dynamic.id), Segment.objects.get(id=static.id)
    services.segment_delete(segment=dynamic)
    services.segment_delete(segment=static)
    with pytest.raises(NotFound):
        services.segment_update(segment=stale_dynamic, name="renamed")
    with pytest.raises(NotFound):
        services.segment_update(segment=stale_dynamic, definition=_nested(2))
    with pytest.raises(NotFound):
        services.import_create(segment=stale_static, content=b"u2\n")
    assert not Segment.objects.filter(id__in=[stale_dynamic.id, stale_static.id]).exists()
