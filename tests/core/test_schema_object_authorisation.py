"""Every project-scoped operation of the OpenAPI schema refuses a member of ANOTHER project (OWASP API1).

Walks the generated schema (what ``/api/schema/`` serves): for each operation whose path has
``{project_id}``, a member of another project, authenticated with a JWT, sends requests that
fit the schema (schemathesis generates them: a valid body, valid query parameters) for the
victim's project (and once more with the stranger's personal API key). Every answer must be 404 or 403 -- never a 2xx, and not a 400 either: the
project check comes before input validation, so a stranger learns nothing from it.

A second test keeps the schema honest: every project-scoped route of the URLconf is in the
schema, so an undocumented new endpoint fails here instead of escaping the walk.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.generation.modes import GenerationMode

from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from tests.core.test_api_authorisation import _walk
from tests.core.test_api_fuzz import SCHEMA, wsgi_app  # noqa: F401 - the fixture
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db

PROJECT_OPERATIONS = [
    (method.upper(), path)
    for path, item in SCHEMA["paths"].items()
    if "{project_id}" in path
    for method in item
    if method in {"get", "post", "put", "patch", "delete"}
]


def test_the_walk_found_the_project_operations() -> None:
    assert ("GET", "/api/v1/projects/{project_id}") in PROJECT_OPERATIONS
    assert ("POST", "/api/v1/projects/{project_id}/insights/trends") in PROJECT_OPERATIONS


def test_every_project_route_is_in_the_schema() -> None:
    from django.urls import get_resolver  # noqa: PLC0415 - after Django's setup

    documented = {path for _method, path in PROJECT_OPERATIONS}
    routes = set()
    for route, _pattern in _walk(get_resolver().url_patterns):
        if route.startswith("api/v1/projects/<int:project_id>"):
            path = "/" + route
            while "<" in path:
                start, end = path.index("<"), path.index(">")
                name = path[start + 1 : end].split(":")[-1]
                path = path[:start] + "{" + name + "}" + path[end + 1 :]
            routes.add(path)
    assert routes - documented == set(), "project routes missing from the OpenAPI schema"


@pytest.mark.parametrize("credential", ["jwt", "personal-api-key"])
@pytest.mark.parametrize(("method", "path"), PROJECT_OPERATIONS, ids=[f"{m} {p}" for m, p in PROJECT_OPERATIONS])
def test_a_member_of_another_project_gets_404_or_403(
    method: str,
    path: str,
    credential: str,
    wsgi_app: Any,  # noqa: F811 - the fixture imported above
    store: object,
) -> None:
    _owner, victim_project = member_with_project()
    stranger, _own_project = member_with_project()
    if credential == "jwt":
        token = str(UserRefreshToken.for_user(stranger).access_token)
    else:
        _key, token = personal_api_key_create(user=stranger, label="walk")
    schema = schemathesis.openapi.from_dict(copy.deepcopy(SCHEMA))
    schema.app = wsgi_app
    operation = schema[path][method]
    options: dict[str, Any] = {
        "headers": {"Authorization": f"Bearer {token}"},
        "path_parameters": {"project_id": victim_project.id},
    }
    if "application/json" in operation.definition.raw.get("requestBody", {}).get("content", {}):
        options["media_type"] = "application/json"
    answers: list[int] = []

    @seed(20)
    @settings(
        max_examples=3,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure reports its first example
    )
    @given(case=operation.as_strategy(GenerationMode.POSITIVE, **options))
    def attempt(case: Any) -> None:
        response = case.call()
        answers.append(response.status_code)
        assert response.status_code in (403, 404), (
            f"{method} {case.formatted_path} as a stranger: {response.status_code} {response.content[:300]!r}"
        )

    attempt()
    assert answers, "no request was made"
