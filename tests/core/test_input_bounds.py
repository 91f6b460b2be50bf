"""Client input out of range is a 400 naming the parameter, never a 500 (analytics/core/inputs.py)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient
from rest_framework.views import APIView

from analytics.core.inputs import MAX_JSON_DEPTH, BoundedJSONParser, json_depth_exceeds
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db

RANGE_PATHS = [
    "events/count",
    "events/by-type",
    "events/by-user",
    "events/timeseries",
    "aggregates",
    "aggregates/global",
]
BAD_TIMES = [
    ("from", "0001-01-01T00:00:00Z"),
    ("to", "9999-12-31T23:59:59Z"),
    ("from", "1969-12-31T23:59:59Z"),
    ("to", "2106-03-01T00:00:00Z"),  # past toUnixTimestamp's UInt32
    ("to", "2299-12-31T00:00:00Z"),
    ("from", "not-a-time"),
]


@pytest.fixture
def member_client(store: object) -> tuple[APIClient, Any]:
    user, project = member_with_project()
    client = APIClient()
    client.force_authenticate(user)
    return client, project


def assert_names(response: Any, parameter: str) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["parameter"] == parameter
    assert parameter in error["message"]
    assert parameter in error["fields"]


@pytest.mark.parametrize("path", RANGE_PATHS)
@pytest.mark.parametrize(("parameter", "value"), BAD_TIMES)
def test_out_of_range_times_are_a_400_naming_the_parameter(member_client, path, parameter, value) -> None:
    client, project = member_client
    query = {parameter: value}
    if parameter == "from":
        query["to"] = "2024-01-02T00:00:00Z"
    else:
        query["from"] = "2024-01-01T00:00:00Z"
    assert_names(client.get(f"/api/v1/projects/{project.id}/{path}", query), parameter)


@pytest.mark.parametrize("path", RANGE_PATHS)
def test_times_within_the_bounds_still_work(member_client, path) -> None:
    client, project = member_client
    response = client.get(
        f"/api/v1/projects/{project.id}/{path}", {"from": "2024-01-01T00:00:00Z", "to": "2024-01-02T00:00:00Z"}
    )
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("milliseconds", ["99999999999999999999", str(2**63), "-99999999999999", "7258118400001", "-1"])
def test_a_cursor_holding_an_out_of_range_time_is_a_400(member_client, milliseconds) -> None:
    client, project = member_client
    cursor = base64.urlsafe_b64encode(f"{milliseconds}:00000000-0000-0000-0000-000000000000".encode()).decode()
    response = client.get(f"/api/v1/projects/{project.id}/users/u1/detail", {"cursor": cursor.rstrip("=")})
    assert_names(response, "cursor")


BODYLESS = ("/rotate-write-key", "/revoke", "/install-telecom", "/refresh")


def _drf_write_routes() -> list[tuple[str, str]]:
    """Every (path pattern, method) served by a DRF view that takes a body."""
    routes = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view_class = getattr(pattern.callback, "view_class", None)
                if view_class is not None and issubclass(view_class, APIView):
                    routes.extend(
                        (prefix + str(pattern.pattern), method)
                        for method in ("post", "put", "patch")
                        if hasattr(view_class, method)
                    )

    walk(get_resolver().url_patterns, "/")
    return routes


def test_every_drf_write_endpoint_answers_json_nested_50000_deep_with_a_400(member_client) -> None:
    client, project = member_client
    body = "[" * 50_000 + "]" * 50_000
    routes = _drf_write_routes()
    assert len(routes) >= 10, routes
    for pattern, method in routes:
        path = re.sub(r"<int:\w+>", "1", pattern.replace("<int:project_id>", str(project.id))).replace(
            "<str:event_name>", "clicked"
        )  # key, report, ... ids
        response = getattr(client, method)(path, data=body, content_type="application/json")
        if path.endswith(BODYLESS):  # never reads the body: answers as without one
            assert response.status_code < 500, (method, path, response.content)
            continue
        assert response.status_code == 400, (method, path, response.content)
        error = response.json()["error"]
        assert error["code"] == "parse_error", (path, error)
        assert str(MAX_JSON_DEPTH) in error["message"]


def test_the_depth_limit_lets_ordinary_nesting_through() -> None:
    assert not json_depth_exceeds({"a": [[{"b": 1}]]})
    assert not json_depth_exceeds([[]] * 3, limit=2)
    assert json_depth_exceeds([[[]]], limit=2)
    assert BoundedJSONParser in {type(parser) for parser in APIView().get_parsers()}


@pytest.mark.parametrize("value", [2**31, 2**63, 2**64, 10**30])
def test_an_integer_setting_beyond_its_column_is_a_400_naming_the_field(member_client, value) -> None:
    client, project = member_client
    response = client.patch(f"/api/v1/projects/{project.id}", {"ingest_rate_limit": value}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "ingest_rate_limit" in error["fields"]
    project.refresh_from_db()
    assert project.ingest_rate_limit is None
