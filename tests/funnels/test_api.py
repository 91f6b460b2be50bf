"""The funnels and paths endpoints: answers, bad input (400 naming the field), tenants (404), docs."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics.accounts.models import Membership, Role
from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from analytics.query.kinds import get_kind, kind_names
from analytics.warehouse.identity import person_id_for
from tests.factories import UserFactory, member_with_project
from tests.warehouse.helpers import event_row

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
DAY = NOW - timedelta(days=2)
STEPS = [{"event": "signup"}, {"event": "activate"}, {"event": "pay"}]
EVIL = "x') OR 1=1 --{project_id:UInt64}`"


@pytest.fixture
def berlin(db: None, store: Any) -> tuple[Any, dict[str, str]]:
    owner, project = member_with_project(timezone="Europe/Berlin")
    _, raw_key = personal_api_key_create(user=owner, label="read")
    rows = []
    for n in range(6):
        # the person id ingestion gives a new distinct id (what static segments map ids to)
        person_id = str(person_id_for(project.id, f"user-{n}"))
        names = ["signup", "activate", "pay"][: 1 + n % 3]
        for offset, name in enumerate(names):
            moment = DAY + timedelta(minutes=n, seconds=10 * offset * (n + 1))
            props = {"plan": "pro" if n % 2 else "free", EVIL: "v"}
            rows.append(
                event_row(
                    project.id,
                    event=name,
                    distinct_id=f"user-{n}",
                    person_id=person_id,
                    timestamp=moment,
                    received_at=moment,
                    properties=props,
                    url="https://example.com/pricing?x=1",
                )
            )
    store.insert_events(rows, dedup_token=f"funnels-api-{project.id}")
    return project, {"Authorization": f"Bearer {raw_key}"}


def post(client: Any, project_id: int, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(
        f"/api/v1/projects/{project_id}/{path}", data=body, content_type="application/json", headers=headers
    )


def funnel_body(**extra: Any) -> dict[str, Any]:
    return {"steps": STEPS, "window_seconds": 3600, "from": "-7d", **extra}


def test_a_funnel_through_the_api(berlin, client):
    project, auth = berlin

    response = post(client, project.id, "funnels/query", funnel_body(), auth)

    assert response.status_code == 200, response.content
    body = response.json()
    assert [step["count"] for step in body["steps"]] == [6, 4, 2]
    assert [step["dropped"] for step in body["steps"]] == [0, 2, 2]
    assert body["steps"][1]["conversion_from_start"] == pytest.approx(4 / 6)
    assert body["steps"][2]["conversion_from_previous"] == pytest.approx(0.5)
    # n=1 and n=4 activate 20 s and 50 s after signup; n=2 and n=5 30 s and 60 s
    assert body["steps"][1]["median_seconds_to_convert"] == pytest.approx(40)
    assert body["steps"][2]["avg_seconds_to_convert"] == pytest.approx(45)
    assert body["time_zone"] == "Europe/Berlin"
    assert body["from"].endswith(("+01:00", "+02:00"))


def test_breakdown_by_an_odd_property_name_is_data(berlin, client):
    project, auth = berlin

    response = post(client, project.id, "funnels/query", funnel_body(breakdown={"key": EVIL}), auth)

    assert response.status_code == 200, response.content
    (group,) = response.json()["breakdown"]
    assert group["breakdown_value"] == "v"
    assert group["steps"][0]["count"] == 6


def test_actors_histogram_and_trend(berlin, client):
    project, auth = berlin

    actors = post(client, project.id, "funnels/actors", {"funnel": funnel_body(), "step": 1, "status": "dropped"}, auth)
    histogram = post(client, project.id, "funnels/histogram", {"funnel": funnel_body(), "bins": 3}, auth)
    trend = post(client, project.id, "funnels/trend", {"funnel": funnel_body(), "interval": "day", "to_step": 1}, auth)

    assert actors.status_code == 200, actors.content
    assert sorted(r["distinct_ids"][0] for r in actors.json()["results"]) == ["user-0", "user-3"]
    assert histogram.status_code == 200, histogram.content
    assert histogram.json()["persons"] == 2
    assert [b["persons"] for b in histogram.json()["bins"]] == [1, 0, 1]
    assert histogram.json()["bins"][0]["from_seconds"] == pytest.approx(60)
    assert trend.status_code == 200, trend.content
    points = trend.json()["points"]
    assert len(points) == 8
    assert sum(p["entered"] for p in points) == 6
    assert sum(p["converted"] for p in points) == 4
    assert all(p["conversion_rate"] == 0.0 for p in points if not p["entered"])


def test_paths_through_the_api(berlin, client):
    project, auth = berlin
    body = {"start": {"event": "signup"}, "from": "-7d", "depth": 3}

    response = post(client, project.id, "paths/query", body, auth)

    assert response.status_code == 200, response.content
    edges = {(e["source"], e["target"]): e["value"] for e in response.json()["edges"]}
    assert edges == {("0_signup", "1_activate"): 4, ("1_activate", "2_pay"): 2}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("funnels/query", {"steps": [{"event": "a"}]}, ["steps"]),
        ("funnels/query", {"steps": [{"event": "a"}] * 21}, ["steps"]),
        ("funnels/query", funnel_body(window_seconds=0), ["window_seconds"]),
        ("funnels/query", funnel_body(window_seconds=90 * 86400 + 1), ["window_seconds"]),
        ("funnels/query", funnel_body(order="sideways"), ["order"]),
        ("funnels/query", funnel_body(**{"from": "yesterday-ish"}), ["from"]),
        ("funnels/query", funnel_body(**{"from": "all"}), ["from"]),
        ("funnels/query", {"steps": [{"event": "a"}, {"event": ""}]}, ["steps", "1", "event"]),
        (
            "funnels/query",
            {"steps": [{"event": "a"}, {"event": "b", "properties": [{"key": "p", "operator": "like"}]}]},
            ["steps", "1", "properties", "0", "operator"],
        ),
        (
            "funnels/query",
            funnel_body(exclusions=[{"event": "x", "from_step": 2, "to_step": 1}]),
            ["exclusions", "0", "to_step"],
        ),
        ("funnels/query", funnel_body(order="unordered", exclusions=[{"event": "x"}]), ["exclusions"]),
        (
            "funnels/query",
            funnel_body(breakdown={"key": "plan", "attribution": "middle"}),
            ["breakdown", "attribution"],
        ),
        ("funnels/query", funnel_body(breakdown={"key": "plan", "attribution": "step"}), ["breakdown", "step"]),
        (
            "funnels/query",
            funnel_body(breakdown={"key": "plan", "attribution": "step", "step": 3}),
            ["breakdown", "step"],
        ),
        ("funnels/query", funnel_body(segment="many"), ["segment"]),
        ("funnels/actors", {"funnel": funnel_body(), "step": 3, "status": "converted"}, ["step"]),
        ("funnels/actors", {"funnel": funnel_body(), "step": 0, "status": "dropped"}, ["step"]),
        ("funnels/actors", {"funnel": funnel_body(), "step": 1, "status": "lost"}, ["status"]),
        ("funnels/actors", {"funnel": funnel_body(), "step": 1, "status": "converted", "cursor": "%%%"}, ["cursor"]),
        ("funnels/actors", {"funnel": {"steps": []}, "step": 1, "status": "converted"}, ["funnel", "steps"]),
        ("funnels/histogram", {"funnel": funnel_body(), "from_step": 2, "to_step": 1}, ["from_step"]),
        ("funnels/histogram", {"funnel": funnel_body(), "bins": 0}, ["bins"]),
        ("funnels/trend", {"funnel": funnel_body(), "interval": "hour"}, ["interval"]),
        ("paths/query", {"from": "-7d"}, ["start"]),
        ("paths/query", {"start": {"event": "a"}, "end": {"event": "b"}}, ["start"]),
        ("paths/query", {"start": {"event": "a"}, "depth": 11}, ["depth"]),
        ("paths/query", {"start": {"event": "a"}, "path_type": "screen"}, ["path_type"]),
    ],
)
def test_bad_input_is_400_naming_the_field(berlin, client, path, body, field):
    project, auth = berlin

    response = post(client, project.id, path, body, auth)

    assert response.status_code == 400, response.content
    node = response.json()["error"]["fields"]
    for part in field:
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert node


def test_a_missing_segment_is_400_naming_the_segment(berlin, client):
    project, auth = berlin

    response = post(client, project.id, "funnels/query", funnel_body(segment=987654), auth)

    assert response.status_code == 400, response.content
    assert "987654" in response.json()["error"]["fields"]["segment"][0]


@pytest.mark.parametrize(
    "path", ["funnels/query", "funnels/actors", "funnels/histogram", "funnels/trend", "paths/query"]
)
def test_another_projects_member_gets_404(berlin, client, path):
    project, _ = berlin
    stranger, own = member_with_project()
    _, raw_key = personal_api_key_create(user=stranger, label="read")
    auth = {"Authorization": f"Bearer {raw_key}"}
    body: dict[str, Any] = {"funnel": funnel_body(), "step": 1, "status": "converted"}
    if path == "funnels/query":
        body = funnel_body()
    if path == "paths/query":
        body = {"start": {"event": "signup"}, "from": "-7d"}

    assert post(client, project.id, path, body, auth).status_code == 404
    assert post(client, 999_999_999, path, body, auth).status_code == 404
    mine = post(client, own.id, path, body, auth)
    assert mine.status_code == 200, mine.content


def test_anonymous_is_refused(berlin, client):
    project, _ = berlin

    assert post(client, project.id, "funnels/query", funnel_body(), {}).status_code in (401, 403)


def test_saved_report_kinds_validate_and_run(berlin):
    project, _ = berlin

    assert {"funnels", "paths"} <= set(kind_names())
    funnels = get_kind("funnels")
    answer = funnels.run(project, funnels.validate(project, funnel_body()), False)
    assert [step["count"] for step in answer["steps"]] == [6, 4, 2]
    paths = get_kind("paths")
    assert paths.run(project, paths.validate(project, {"end": {"event": "pay"}, "from": "-7d"}), True)["persons"] == 2


def test_openapi_documents_the_endpoints(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    for path in (
        "funnels/query",
        "funnels/actors",
        "funnels/histogram",
        "funnels/trend",
        "funnels/save-segment",
        "paths/query",
    ):
        operation = schema["paths"][f"/api/v1/projects/{{project_id}}/{path}"]["post"]
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        (answer,) = operation["responses"].values()
        assert answer["content"]["application/json"]["schema"]["$ref"]
    funnel_doc = schema["paths"]["/api/v1/projects/{project_id}/funnels/query"]["post"]["description"]
    paths_doc = schema["paths"]["/api/v1/projects/{project_id}/paths/query"]["post"]["description"]
    for phrase in ("re-enters", "inclusive", "after ``to``", "same millisecond", "ties go to the earliest entry"):
        assert phrase in funnel_doc, phrase
    assert "$other" in paths_doc


def test_funnel_and_paths_answers_go_through_the_result_cache(berlin, client):
    project, auth = berlin

    first = post(client, project.id, "funnels/query", funnel_body(), auth).json()
    second = post(client, project.id, "funnels/query", funnel_body(), auth).json()
    refreshed = post(client, project.id, "funnels/query?refresh=true", funnel_body(), auth).json()
    paths_body = {"start": {"event": "signup"}, "from": "-7d"}
    paths_first = post(client, project.id, "paths/query", paths_body, auth).json()
    paths_second = post(client, project.id, "paths/query", paths_body, auth).json()

    assert (first["cached"], second["cached"], refreshed["cached"]) == (False, True, False)
    assert second["steps"] == first["steps"]
    assert (paths_first["cached"], paths_second["cached"]) == (False, True)
    assert "computed_at" in paths_first


def test_a_saved_funnel_and_saved_paths_run_by_id(berlin, client):
    project, _ = berlin
    owner = project.organisation.memberships.get().user
    headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(owner).access_token}"}
    reports = f"/api/v1/projects/{project.id}/reports/"

    funnel = client.post(
        reports,
        data={"name": "Activation", "kind": "funnels", "query": funnel_body()},
        content_type="application/json",
        headers=headers,
    )
    paths = client.post(
        reports,
        data={"name": "After signup", "kind": "paths", "query": {"start": {"event": "signup"}, "from": "-7d"}},
        content_type="application/json",
        headers=headers,
    )
    bad = client.post(
        reports,
        data={"name": "Broken", "kind": "funnels", "query": {"steps": [{"event": "a"}], "window_seconds": 0}},
        content_type="application/json",
        headers=headers,
    )

    assert funnel.status_code == 201, funnel.content
    assert paths.status_code == 201, paths.content
    results = client.get(f"{reports}{funnel.json()['id']}/results", headers=headers).json()
    assert [step["count"] for step in results["steps"]] == [6, 4, 2]
    assert results["report"]["kind"] == "funnels"
    path_results = client.get(f"{reports}{paths.json()['id']}/results", headers=headers).json()
    assert path_results["persons"] == 6
    assert bad.status_code == 400
    fields = bad.json()["error"]["fields"]["query"]
    assert "steps" in fields
    assert "window_seconds" in fields


def _documented_requests() -> list[tuple[str, dict[str, Any]]]:
    """The request bodies docs/funnels.md shows, each with its endpoint (the block after its heading)."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "funnels.md").read_text()
    blocks = re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    return [("funnels/query", json.loads(blocks[0])), ("paths/query", json.loads(blocks[2]))]


@pytest.mark.parametrize(("path", "body"), _documented_requests())
def test_the_documented_requests_are_accepted(berlin, client, path, body):
    project, auth = berlin

    response = post(client, project.id, path, body, auth)

    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:  # only the example's segment 12 may be missing here
        assert list(response.json()["error"]["fields"]) == ["segment"]
        response = post(client, project.id, path, {**body, "segment": None}, auth)
    assert response.status_code == 200, response.content


def test_save_the_persons_who_dropped_at_a_step_as_a_static_segment(berlin, client):
    project, _ = berlin
    owner = project.organisation.memberships.get().user
    headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(owner).access_token}"}
    body = {"funnel": funnel_body(), "step": 1, "status": "dropped", "name": "Signed up, never activated"}

    response = post(client, project.id, "funnels/save-segment", body, headers)

    assert response.status_code == 201, response.content
    saved = response.json()
    assert saved["name"] == "Signed up, never activated"
    assert saved["members"] == 2
    members = client.get(f"/api/v1/projects/{project.id}/segments/{saved['id']}/members", headers=headers).json()
    assert sorted(member["distinct_id"] for member in members["results"]) == ["user-0", "user-3"]
    converted = post(client, project.id, "funnels/save-segment", {**body, "status": "converted", "step": 2}, headers)
    assert converted.json()["members"] == 2


def test_save_as_segment_needs_an_editor_and_a_valid_request(berlin, client):
    project, api_key = berlin
    viewer = UserFactory()
    Membership.objects.create(user=viewer, organisation=project.organisation, role=Role.VIEWER)
    viewer_headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(viewer).access_token}"}
    owner = project.organisation.memberships.get(role=Role.OWNER).user
    owner_headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(owner).access_token}"}
    body = {"funnel": funnel_body(), "step": 1, "status": "converted", "name": "Activated"}

    assert post(client, project.id, "funnels/save-segment", body, viewer_headers).status_code == 403
    assert post(client, project.id, "funnels/save-segment", body, api_key).status_code == 403
    missing_name = post(client, project.id, "funnels/save-segment", {**body, "name": ""}, owner_headers)
    assert missing_name.status_code == 400
    assert "name" in missing_name.json()["error"]["fields"]
    bad_step = post(client, project.id, "funnels/save-segment", {**body, "step": 9}, owner_headers)
    assert bad_step.status_code == 400
    assert "step" in bad_step.json()["error"]["fields"]
    stranger, _ = member_with_project()
    stranger_headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(stranger).access_token}"}
    assert post(client, project.id, "funnels/save-segment", body, stranger_headers).status_code == 404


def test_a_saved_segment_filters_a_funnel(berlin, client):
    project, auth = berlin
    owner = project.organisation.memberships.get(role=Role.OWNER).user
    headers = {"Authorization": f"Bearer {UserRefreshToken.for_user(owner).access_token}"}
    body = {"funnel": funnel_body(), "step": 1, "status": "converted", "name": "Activated"}
    segment_id = post(client, project.id, "funnels/save-segment", body, headers).json()["id"]

    inside = post(client, project.id, "funnels/query", funnel_body(segment=segment_id), auth).json()
    outside = post(
        client,
        project.id,
        "funnels/query",
        funnel_body(segment={"type": "segment", "key": "id", "operator": "not_in", "value": segment_id}),
        auth,
    ).json()

    assert [step["count"] for step in inside["steps"]] == [4, 4, 2]
    assert [step["count"] for step in outside["steps"]] == [2, 0, 0]
