"""The retention endpoints: answers, CSV, cell users, segments, person breakdowns, bad input, tenants."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from rest_framework.exceptions import ValidationError

from analytics.accounts.models import Membership, Role
from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from analytics.cohorts.kinds import validate_retention
from analytics.query import membership
from analytics.query.compiler.params import Params
from analytics.query.kinds import get_kind
from analytics.query.membership import SegmentMissing, register_segment_resolver
from analytics.segments.models import Segment
from analytics.segments.selectors import segment_members_page
from tests.cohorts.reference import Spec, event_value, generate, period_number, reference
from tests.factories import UserFactory, member_with_project

BERLIN = ZoneInfo("Europe/Berlin")
BASE = "/api/v1/projects/{id}/cohorts/retention"
QUERY = {
    "cohort_event": {"event": "signup"},
    "return_event": {"event": "pageview"},
    "period": "week",
    "periods": 5,
    "from": "2026-02-09",
    "to": "2026-03-22",
    "mode": "recurring",
    "returning": "on",
}


@pytest.fixture
def project_data(db: None, store: Any) -> tuple[Any, dict[str, str], list[dict[str, Any]]]:
    owner, project = member_with_project(timezone="Europe/Berlin")
    _, raw_key = personal_api_key_create(user=owner, label="read")
    rows = generate(project.id, start=datetime(2026, 2, 9, tzinfo=UTC), days=60, persons=40, events=900, seed=5)
    store.insert_events(rows, dedup_token=f"retention-api-{project.id}")
    return project, {"Authorization": f"Bearer {raw_key}"}, rows


def post(client: Any, project_id: int, body: dict[str, Any], headers: dict[str, str], suffix: str = "") -> Any:
    return client.post(BASE.format(id=project_id) + suffix, data=body, content_type="application/json", headers=headers)


def _expected(rows: list[dict[str, Any]], body: dict[str, Any], group_of: Any = None) -> dict[Any, Any]:
    return reference(
        rows,
        cohort=Spec(body["cohort_event"]["event"]),
        returns=Spec(body["return_event"]["event"]),
        period=body["period"],
        periods=body["periods"],
        start=datetime(2026, 2, 9, tzinfo=BERLIN),
        end=datetime(2026, 3, 23, tzinfo=BERLIN),
        zone=BERLIN,
        mode=body["mode"],
        returning=body["returning"],
        now=datetime.now(UTC),
        group_of=group_of,
    )


@pytest.mark.parametrize("mode", ["first_time", "recurring"])
@pytest.mark.parametrize("returning", ["on", "on_or_after"])
def test_the_table_matches_the_reference(project_data, client, mode, returning):
    project, auth, rows = project_data
    body = {**QUERY, "mode": mode, "returning": returning}

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["cohorts"] == _expected(rows, body)[None]
    assert answer["time_zone"] == "Europe/Berlin"
    assert answer["from"] == "2026-02-09T00:00:00+01:00"
    assert (answer["period"], answer["periods"], answer["mode"], answer["returning"]) == ("week", 5, mode, returning)


def test_csv_has_one_row_per_cohort(project_data, client):
    project, auth, rows = project_data

    response = post(client, project.id, QUERY, auth, "/csv")

    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == ["cohort_start", "size"] + [f"period_{k}" for k in range(6)]
    expected = _expected(rows, QUERY)[None]
    assert table[1:] == [[c["start"], str(c["size"]), *(str(v) for v in c["values"])] for c in expected]


def test_csv_with_a_breakdown_names_the_value_and_defuses_formulas(db, store, client):
    owner, project = member_with_project(timezone="UTC")
    _, raw_key = personal_api_key_create(user=owner, label="read")
    rows = generate(project.id, start=datetime(2026, 3, 2, tzinfo=UTC), days=7, persons=5, events=40, seed=3)
    for row in rows:
        row["event"] = "signup"
        row["properties"] = {"plan": "=HYPERLINK(1)"}
    store.insert_events(rows, dedup_token=f"retention-csv-{project.id}")
    body = {
        "cohort_event": {"event": "signup"},
        "period": "week",
        "periods": 1,
        "from": "2026-03-02",
        "to": "2026-03-08",
    }

    response = post(
        client, project.id, {**body, "breakdown": {"key": "plan"}}, {"Authorization": f"Bearer {raw_key}"}, "/csv"
    )

    table = list(csv.reader(io.StringIO(response.content.decode())))
    assert table[0] == ["cohort_start", "breakdown_value", "size", "period_0", "period_1"]
    assert table[1][:3] == ["2026-03-02T00:00:00+00:00", "'=HYPERLINK(1)", "5"]


def _cell_members(rows: list[dict[str, Any]], body: dict[str, Any], cohort_number: int, k: int) -> set[str]:
    """Persons counted in one cell, by the reference's definitions (recurring, on)."""
    zone = BERLIN
    start, end = datetime(2026, 2, 9, tzinfo=zone), datetime(2026, 3, 23, tzinfo=zone)
    cohort = {
        row["person_id"]
        for row in rows
        if row["event"] == body["cohort_event"]["event"]
        and start <= row["timestamp"] < end
        and period_number(row["timestamp"], "week", zone) == cohort_number
    }
    if k == 0:
        return cohort
    returned = {
        row["person_id"]
        for row in rows
        if row["event"] == body["return_event"]["event"]
        and period_number(row["timestamp"], "week", zone) == cohort_number + k
    }
    return cohort & returned


@pytest.mark.parametrize(
    ("k", "cohort_text"), [(0, "2026-02-16T00:00:00+01:00"), (2, "2026-02-16"), (2, "2026-02-19T23:30")]
)
def test_the_users_of_a_cell_come_in_pages(project_data, client, k, cohort_text):
    # A date or a local time without an offset is the project's local time: any moment of the week names it.
    project, auth, rows = project_data
    cohort_start = datetime(2026, 2, 16, tzinfo=BERLIN)
    expected = _cell_members(rows, QUERY, period_number(cohort_start, "week", BERLIN), k)
    assert len(expected) > 3
    seen: list[str] = []
    cursor = None
    for _ in range(20):
        body = {**QUERY, "cell": {"cohort": cohort_text, "k": k}, "limit": 3, "cursor": cursor}
        response = post(client, project.id, body, auth, "/users")
        assert response.status_code == 200, response.content
        page = response.json()
        assert len(page["users"]) <= 3
        seen += [user["person_id"] for user in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
    table = post(client, project.id, QUERY, auth).json()["cohorts"]
    assert table[1]["values"][k] == len(expected)


def _store_persons(store: Any, project_id: int, persons: list[str], company: dict[str, str], deleted: str) -> None:
    """Version 1 says "old" for everybody; version 2 the real company, and deletes ``deleted``."""

    def versions(number: int, properties: dict[str, str], is_deleted: dict[str, int]) -> pa.Table:
        return pa.table(
            {
                "project_id": pa.array([project_id] * len(persons), pa.uint64()),
                "person_id": pa.array(persons),
                "properties": pa.array([json.dumps({"company": properties[p]}) for p in persons]),
                "created_at": pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * len(persons), pa.timestamp("ms", tz="UTC")),
                "version": pa.array([number] * len(persons), pa.uint64()),
                "is_deleted": pa.array([is_deleted.get(p, 0) for p in persons], pa.uint8()),
            }
        )

    store.insert_arrow("persons", versions(1, dict.fromkeys(persons, "old"), {}), dedup_token=f"p1-{project_id}")
    store.insert_arrow("persons", versions(2, company, {deleted: 1}), dedup_token=f"p2-{project_id}")


@pytest.fixture
def companies(project_data: Any, store: Any) -> tuple[dict[str, str], str]:
    project, _, rows = project_data
    persons = sorted({row["person_id"] for row in rows})
    company = {person: ["acme", "globex", "initech"][index % 3] for index, person in enumerate(persons)}
    _store_persons(store, project.id, persons, company, persons[0])
    return company, persons[0]


def test_a_person_property_breakdown_uses_the_latest_person_version(project_data, client, companies):
    project, auth, rows = project_data
    company, deleted = companies
    body = {**QUERY, "breakdown": {"key": "company", "type": "person"}}

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    groups = {group["breakdown_value"]: group["cohorts"] for group in response.json()["breakdown"]}
    expected = _expected(
        rows, body, group_of=lambda row: None if row["person_id"] == deleted else company[row["person_id"]]
    )
    assert groups == expected


def test_person_and_segment_conditions_in_the_event_filters(project_data, client, companies, segment_of_two):
    project, auth, rows = project_data
    company, deleted = companies
    acme = {person for person, name in company.items() if name == "acme" and person != deleted}
    outside = {row["person_id"] for row in rows if row["distinct_id"] not in segment_of_two}
    body = {
        **QUERY,
        "cohort_event": {
            "event": "signup",
            "properties": [{"type": "person", "key": "company", "operator": "eq", "value": "acme"}],
        },
        "return_event": {
            "event": "pageview",
            "properties": [{"type": "segment", "key": "id", "operator": "not_in", "value": 7}],
        },
    }
    kept = [
        row
        for row in rows
        if (row["event"] == "signup" and row["person_id"] in acme)
        or (row["event"] == "pageview" and row["person_id"] in outside)
    ]

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    assert response.json()["cohorts"] == _expected(kept, body)[None]
    assert sum(cohort["size"] for cohort in response.json()["cohorts"]) > 0


EVIL = "x') OR 1=1 --{project_id:UInt64}`"


def test_injection_attempts_are_data(project_data, client):
    project, auth, _ = project_data
    body = {
        **QUERY,
        "cohort_event": {"event": EVIL, "properties": [{"key": EVIL, "operator": "eq", "value": EVIL}]},
        "breakdown": {"key": EVIL},
    }

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    assert all(cohort["size"] == 0 for cohort in response.json()["cohorts"])
    assert response.json()["breakdown"] == []
    users = post(
        client, project.id, {**body, "cell": {"cohort": "2026-02-16", "k": 0, "breakdown_value": EVIL}}, auth, "/users"
    )
    assert users.json() == {"users": [], "next_cursor": None}


def test_an_event_breakdown_matches_the_reference(project_data, client):
    project, auth, rows = project_data
    body = {**QUERY, "breakdown": {"key": "plan", "limit": 10}}

    response = post(client, project.id, body, auth)

    groups = {group["breakdown_value"]: group["cohorts"] for group in response.json()["breakdown"]}
    assert groups == _expected(rows, body, group_of=event_value("plan"))


@pytest.fixture
def segment_of_two(project_data: Any) -> Iterator[list[str]]:
    """Segment 7 holds the persons of user-1 and user-2 (a resolver of our own in place of the segments app)."""
    members = ["user-1", "user-2"]

    def resolver(*, project_id: int, segment_id: int, params: Params) -> tuple[str, str]:
        if segment_id != 7:
            raise SegmentMissing(segment_id)
        ids = params.add(members, "Array(String)")
        return (
            "person_id",
            f"(SELECT person_id FROM events WHERE project_id = {{project_id:UInt64}} AND distinct_id IN {ids})",
        )

    previous = membership._resolver
    register_segment_resolver(resolver)
    yield members
    membership._resolver = previous


@pytest.mark.parametrize("operator", ["in", "not_in"])
def test_a_segment_filter_restricts_the_cohorts(project_data, client, segment_of_two, operator):
    project, auth, rows = project_data
    inside = {row["person_id"] for row in rows if row["distinct_id"] in segment_of_two}
    kept = [row for row in rows if (row["person_id"] in inside) == (operator == "in")]
    body = {**QUERY, "segment": {"type": "segment", "key": "id", "operator": operator, "value": 7}}

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    assert response.json()["cohorts"] == _expected(kept, body)[None]


def test_a_missing_segment_is_400(project_data, client, segment_of_two):
    project, auth, _ = project_data

    response = post(client, project.id, {**QUERY, "segment": 8}, auth)

    assert response.status_code == 400
    assert "segment" in response.json()["error"]["fields"]


def _fields(response: Any) -> Any:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"periods": 53}, ["periods"]),
        ({"periods": 0}, ["periods"]),
        ({"period": "fortnight"}, ["period"]),
        ({"mode": "sometimes"}, ["mode"]),
        ({"returning": "before"}, ["returning"]),
        ({"from": "2026-03-10", "to": "2026-03-01"}, ["from"]),
        ({"from": "last tuesday"}, ["from"]),
        ({"to": "soon"}, ["to"]),
        ({"period": "day", "from": "2024-01-01", "to": "2026-01-01"}, ["from"]),
        ({"cohort_event": {"properties": []}}, ["cohort_event", "event"]),
        (
            {"return_event": {"event": "a", "properties": [{"key": "p", "operator": "like", "value": 1}]}},
            ["return_event", "properties", "0", "operator"],
        ),
        ({"breakdown": {"key": "plan", "limit": 51}}, ["breakdown", "limit"]),
        ({"breakdown": {"key": "plan", "type": "session"}}, ["breakdown", "type"]),
        ({"segment": "seven"}, ["segment"]),
    ],
)
def test_bad_input_is_400_naming_the_field(project_data, client, change, path):
    project, auth, _ = project_data

    fields = _fields(post(client, project.id, {**QUERY, **change}, auth))

    node = fields
    for key in path:
        assert key in node, fields
        node = node[key]


@pytest.mark.parametrize(
    ("cell", "path"),
    [({"cohort": "2026-02-16", "k": 6}, ["cell", "k"]), ({"cohort": "yesterday", "k": 1}, ["cell", "cohort"])],
)
def test_bad_cells_are_400(project_data, client, cell, path):
    project, auth, _ = project_data

    fields = _fields(post(client, project.id, {**QUERY, "cell": cell}, auth, "/users"))

    assert path[1] in fields[path[0]]


def test_a_bad_cursor_is_400(project_data, client):
    project, auth, _ = project_data
    body = {**QUERY, "cell": {"cohort": "2026-02-16T00:00:00+01:00", "k": 0}, "cursor": "'; DROP"}

    assert "cursor" in _fields(post(client, project.id, body, auth, "/users"))


@pytest.mark.parametrize("suffix", ["", "/csv", "/users"])
def test_another_projects_member_gets_404(project_data, client, suffix):
    project, _, _ = project_data
    stranger, _ = member_with_project()
    _, raw_key = personal_api_key_create(user=stranger, label="read")
    body = {**QUERY, "cell": {"cohort": "2026-02-16T00:00:00+01:00", "k": 0}}

    response = post(client, project.id, body, {"Authorization": f"Bearer {raw_key}"}, suffix)

    assert response.status_code == 404


def test_anonymous_requests_are_refused(project_data, client):
    project, _, _ = project_data

    assert post(client, project.id, QUERY, {}).status_code in (401, 403)


def test_retention_is_a_saved_report_kind(project_data):
    project, _, rows = project_data
    kind = get_kind("retention")

    query = kind.validate(project, QUERY)
    answer = kind.run(project, query, False)

    assert answer["cohorts"] == _expected(rows, QUERY)[None]
    with pytest.raises(ValidationError) as error:
        validate_retention(project, {**QUERY, "periods": 99})
    assert "periods" in error.value.detail


def test_the_endpoints_are_in_the_openapi_schema(client, db):
    schema = client.get("/api/schema/", headers={"Accept": "application/json"}).json()

    for suffix in ("", "/csv", "/users", "/segment"):
        assert "/api/v1/projects/{project_id}/cohorts/retention" + suffix in schema["paths"]


def test_the_table_goes_through_the_result_cache(project_data, client):
    project, auth, _ = project_data

    first = post(client, project.id, QUERY, auth).json()
    second = post(client, project.id, QUERY, auth).json()
    refreshed = client.post(
        BASE.format(id=project.id) + "?refresh=true", data=QUERY, content_type="application/json", headers=auth
    ).json()

    assert (first["cached"], second["cached"], refreshed["cached"]) == (False, True, False)
    assert first["cohorts"] == second["cohorts"] == refreshed["cohorts"]
    assert second["computed_at"] == first["computed_at"]


def test_a_saved_retention_report_runs_and_shares_the_cache(project_data, client):
    project, auth, rows = project_data
    owner = Membership.objects.filter(organisation=project.organisation).first().user
    headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(owner).access_token}"}
    reports = f"/api/v1/projects/{project.id}/reports/"
    bad = client.post(
        reports,
        data={"name": "r", "kind": "retention", "query": {**QUERY, "periods": 60}},
        content_type="application/json",
        headers=headers,
    )
    created = client.post(
        reports,
        data={"name": "Weekly retention", "kind": "retention", "query": QUERY},
        content_type="application/json",
        headers=headers,
    )
    assert bad.status_code == 400
    assert created.status_code == 201, created.content
    direct = post(client, project.id, QUERY, auth).json()

    results = client.get(f"{reports}{created.json()['id']}/results", headers=headers).json()

    assert results["cohorts"] == _expected(rows, QUERY)[None]
    assert results["report"]["kind"] == "retention"
    assert results["cached"] is True
    assert results["computed_at"] == direct["computed_at"]


def test_a_cell_is_saved_as_a_static_segment(project_data, client):
    project, auth, rows = project_data
    owner = Membership.objects.filter(organisation=project.organisation).first().user
    headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(owner).access_token}"}
    cohort_start = datetime(2026, 2, 16, tzinfo=BERLIN)
    expected = _cell_members(rows, QUERY, period_number(cohort_start, "week", BERLIN), 2)
    body = {**QUERY, "cell": {"cohort": "2026-02-16", "k": 2}, "name": "came back in week 2"}

    refused = post(client, project.id, body, auth, "/segment")  # a personal API key only reads
    response = post(client, project.id, body, headers, "/segment")

    assert refused.status_code == 403
    assert response.status_code == 201, response.content
    saved = response.json()
    assert saved["users"] == len(expected)
    segment = Segment.objects.get(id=saved["id"], project=project)
    assert segment.is_static
    assert segment.name == "came back in week 2"
    members, _ = segment_members_page(segment=segment, after=None, limit=None)
    distinct_of = {row["person_id"]: row["distinct_id"] for row in rows}
    assert {member["distinct_id"] for member in members} == {distinct_of[person] for person in expected}


def test_saving_a_cell_needs_an_editor_and_a_name(project_data, client):
    project, _, _ = project_data
    viewer = UserFactory()
    Membership.objects.create(user=viewer, organisation=project.organisation, role=Role.VIEWER)
    headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(viewer).access_token}"}
    owner = Membership.objects.filter(organisation=project.organisation, role=Role.OWNER).first().user
    owner_headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(owner).access_token}"}
    body = {**QUERY, "cell": {"cohort": "2026-02-16", "k": 0}, "name": "x"}

    assert post(client, project.id, body, headers, "/segment").status_code == 403
    nameless = post(client, project.id, {**body, "name": ""}, owner_headers, "/segment")
    assert "name" in nameless.json()["error"]["fields"]
