"""POST /api/v1/projects/{id}/insights/trends: validation, injection as data, tenant isolation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics.accounts.services import personal_api_key_create
from tests.factories import member_with_project
from tests.warehouse.helpers import event_row

NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
EVIL_KEY = "x') OR 1=1 --{project_id:UInt64}`"
EVIL_VALUE = "v'\"\\); DROP TABLE events; --"


@pytest.fixture
def berlin_project(db: None, store: Any) -> tuple[Any, dict[str, str]]:
    owner, project = member_with_project(timezone="Europe/Berlin")
    _, raw_key = personal_api_key_create(user=owner, label="read")
    moment = NOW - timedelta(hours=2)
    rows = [
        event_row(project.id, event="signup", timestamp=moment, received_at=moment, properties={"plan": "pro"}),
        event_row(project.id, event="signup", timestamp=moment, received_at=moment, properties={EVIL_KEY: EVIL_VALUE}),
        event_row(project.id, event="signup", timestamp=moment, received_at=moment, properties={"plan": EVIL_VALUE}),
    ]
    store.insert_events(rows, dedup_token=f"reports-api-{project.id}")
    return project, {"Authorization": f"Bearer {raw_key}"}


def post(client: Any, project_id: int, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(
        f"/api/v1/projects/{project_id}/insights/trends", data=body, content_type="application/json", headers=headers
    )


def test_a_personal_api_key_may_run_a_trend_in_the_project_zone(berlin_project, client):
    project, auth = berlin_project

    response = post(client, project.id, {"series": [{"event": "signup"}], "interval": "day", "from": "-1d"}, auth)

    assert response.status_code == 200, response.content
    body = response.json()
    (series,) = body["series"]
    assert series["total"] == 3
    assert body["source"] == "events"
    assert body["time_zone"] == "Europe/Berlin"
    assert all(point["bucket"].endswith(("+01:00", "+02:00")) for point in series["points"])
    assert "computed_at" in body


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (EVIL_KEY, EVIL_VALUE, 1),  # the odd name and value are a property like any other
        ("plan", EVIL_VALUE, 1),
        ("plan", "' OR '1'='1", 0),
        ("{project_id:UInt64}", "x", 0),
        ("plan') OR ('1'='1", "pro", 0),
    ],
)
def test_injection_attempts_in_filters_are_data(berlin_project, client, key, value, expected):
    project, auth = berlin_project
    body = {"series": [{"event": "signup", "filters": [{"key": key, "operator": "eq", "value": value}]}], "from": "-1d"}

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    assert response.json()["series"][0]["total"] == expected


def test_injection_attempt_in_a_breakdown_key_is_data(berlin_project, client):
    project, auth = berlin_project
    body = {"series": [{"event": "signup"}], "from": "-1d", "breakdown": {"key": EVIL_KEY, "limit": 5}}

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    values = {line["breakdown_value"]: line["total"] for line in response.json()["series"]}
    assert values == {EVIL_VALUE: 1, None: 2}


def _fields(response: Any) -> Any:
    assert response.status_code == 400, response.content
    return response.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            {"series": [{"event": "a", "filters": [{"key": "p", "operator": "like", "value": "x"}]}]},
            ["series", "0", "filters", "0", "operator"],
        ),
        (
            {"series": [{"event": "a", "filters": [{"key": "p", "operator": "regex", "value": "(unclosed"}]}]},
            ["series", "0", "filters", "0", "value"],
        ),
        (
            {"series": [{"event": "a", "filters": [{"key": "p", "operator": "regex", "value": "a(?=b)"}]}]},
            ["series", "0", "filters", "0", "value"],
        ),
        (
            {"series": [{"event": "a", "filters": [{"key": "p", "operator": "regex", "value": r"(a)\1"}]}]},
            ["series", "0", "filters", "0", "value"],
        ),
        ({"series": [{"event": "a"}], "filters": {"op": "xor", "conditions": []}}, ["filters", "op"]),
        (
            {"series": [{"event": "a"}], "filters": [{"key": "p", "operator": "gt", "value": "many"}]},
            ["filters", "0", "value"],
        ),
        (
            {"series": [{"event": "a"}], "filters": [{"key": "p", "operator": "between", "value": [5, 1]}]},
            ["filters", "0", "value"],
        ),
        (
            {"series": [{"event": "a"}], "filters": [{"key": "p", "operator": "in", "value": []}]},
            ["filters", "0", "value"],
        ),
        (
            {"series": [{"event": "a"}], "filters": [{"key": "p", "type": "session", "operator": "eq", "value": 1}]},
            ["filters", "0", "type"],
        ),
        ({"series": [{"event": "a", "math": "p95"}]}, ["series", "0", "property"]),
        ({"series": [{"event": "a", "math": "median_of_everything"}]}, ["series", "0", "math"]),
        ({"series": [{"event": "a"}] * 21}, ["series"]),
        ({"series": []}, ["series"]),
        ({"series": [{"event": "a"}], "from": "2026-03-10", "to": "2026-03-01"}, ["from"]),
        ({"series": [{"event": "a"}], "from": "last tuesday"}, ["from"]),
        ({"series": [{"event": "a"}], "interval": "fortnight"}, ["interval"]),
        ({"series": [{"event": "a"}], "interval": "minute", "from": "-30d"}, ["interval"]),
        ({"series": [{"event": "a"}], "breakdown": {"key": "plan", "limit": 51}}, ["breakdown", "limit"]),
    ],
)
def test_bad_input_is_400_naming_the_field(berlin_project, client, body, path):
    project, auth = berlin_project

    fields = _fields(post(client, project.id, body, auth))

    node = fields
    for part in path:
        node = node[int(part)] if isinstance(node, list) else node[part]
    assert node


def test_too_many_points_names_the_limit(berlin_project, client):
    project, auth = berlin_project
    body = {"series": [{"event": "a"}] * 4, "interval": "hour", "from": "-120d", "breakdown": {"key": "plan"}}

    fields = _fields(post(client, project.id, body, auth))

    assert "10000 points" in fields["interval"][0]


def test_more_than_20_series_names_the_limit(berlin_project, client):
    project, auth = berlin_project

    fields = _fields(post(client, project.id, {"series": [{"event": "a"}] * 21}, auth))

    assert "20" in fields["series"][0]


def test_all_time_resolves_from_the_first_event(berlin_project, client):
    project, auth = berlin_project

    response = post(client, project.id, {"series": [{"event": "signup"}], "from": "all", "interval": "hour"}, auth)

    assert response.status_code == 200, response.content
    assert response.json()["series"][0]["total"] == 3


def test_a_non_member_gets_404_and_sees_no_other_projects_data(berlin_project, client, store):
    project, _ = berlin_project
    stranger, own_project = member_with_project()
    _, raw_key = personal_api_key_create(user=stranger, label="read")
    auth = {"Authorization": f"Bearer {raw_key}"}
    body = {"series": [{"event": "signup"}], "from": "-1d"}

    assert post(client, project.id, body, auth).status_code == 404
    assert post(client, 999_999_999, body, auth).status_code == 404
    own = post(client, own_project.id, body, auth)
    assert own.status_code == 200
    assert own.json()["series"][0]["total"] == 0


def test_anonymous_is_refused(berlin_project, client):
    project, _ = berlin_project

    assert post(client, project.id, {"series": [{"event": "signup"}]}, {}).status_code in (401, 403)


def test_openapi_documents_the_request_and_the_answer(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/projects/{project_id}/insights/trends"]["post"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"series", "interval", "from", "to", "filters", "breakdown", "compare", "formula"} <= set(
        schema["components"]["schemas"][request]["properties"]
    )
    assert {"series", "computed_at", "source"} <= set(schema["components"]["schemas"][answer]["properties"])


def test_the_readme_trend_example_is_answered(berlin_project, client):
    """README's curl example of a trend: its body, as written there, gets an answer."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme[readme.index("/insights/trends -H") :]
    body = json.loads(example[example.index("-d '") + 4 : example.index("}'") + 1])
    project, auth = berlin_project
    response = post(client, project.id, body, auth)
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["source"] == "events"
    assert isinstance(answer["series"], list)  # this project has no purchases: no breakdown values


def test_a_bad_formula_is_400_naming_formula(berlin_project, client):
    project, auth = berlin_project
    body = {"series": [{"event": "signup"}], "formula": "__import__('os').system('true')"}

    assert "formula" in _fields(post(client, project.id, body, auth))


def test_a_formula_answers_with_null_for_division_by_zero(berlin_project, client):
    project, auth = berlin_project
    body = {"series": [{"event": "signup"}, {"event": "nothing"}], "formula": "A / B", "from": "-1d"}

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    (line,) = response.json()["series"]
    assert line["math"] == "formula"
    assert line["total"] is None


def test_a_missing_segment_is_400_naming_segment(berlin_project, client):
    project, auth = berlin_project
    condition = {"type": "segment", "key": "id", "operator": "in", "value": 987654}
    body = {"series": [{"event": "signup"}], "filters": [condition], "from": "-1d"}

    assert "segment" in _fields(post(client, project.id, body, auth))


@pytest.mark.parametrize(
    "condition",
    [
        {"type": "segment", "key": "name", "operator": "in", "value": 1},
        {"type": "segment", "key": "id", "operator": "contains", "value": 1},
        {"type": "segment", "key": "id", "operator": "in", "value": "1 OR 1=1"},
        {"type": "person", "key": "plan", "operator": "like", "value": "x"},
    ],
)
def test_malformed_segment_and_person_conditions_are_400(berlin_project, client, condition):
    project, auth = berlin_project
    body = {"series": [{"event": "signup"}], "filters": [condition]}

    assert _fields(post(client, project.id, body, auth))["filters"]["0"]


def test_injection_attempts_through_person_filters_and_breakdowns_are_data(berlin_project, client):
    project, auth = berlin_project
    evil_filter = {"key": EVIL_KEY, "type": "person", "operator": "neq", "value": EVIL_VALUE}
    body = {
        "series": [{"event": "signup", "filters": [evil_filter]}],
        "from": "-1d",
        "breakdown": {"key": EVIL_KEY, "type": "person", "limit": 5},
    }

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    # No person rows: every event "is not" the value and breaks down as not set.
    assert [(line["breakdown_value"], line["total"]) for line in response.json()["series"]] == [(None, 3)]


def test_unknown_person_properties_give_empty_results(berlin_project, client):
    project, auth = berlin_project
    condition = {"key": "never_seen", "type": "person", "operator": "eq", "value": "x"}
    body = {"series": [{"event": "signup", "filters": [condition]}], "from": "-1d"}

    response = post(client, project.id, body, auth)

    assert response.status_code == 200, response.content
    assert response.json()["series"][0]["total"] == 0


def test_a_regex_only_re2_refuses_is_400_naming_filters(berlin_project, client):
    project, auth = berlin_project
    # Python's re accepts \\Z; RE2 (ClickHouse) does not: the store's refusal becomes a 400.
    condition = {"key": "plan", "operator": "regex", "value": "pro\\Z"}
    body = {"series": [{"event": "signup", "filters": [condition]}], "from": "-1d"}

    fields = _fields(post(client, project.id, body, auth))

    assert "invalid escape sequence" in fields["filters"][0]
