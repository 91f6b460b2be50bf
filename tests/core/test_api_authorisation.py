"""Object-level authorisation across EVERY API route (RELIABILITY 12), found by walking the URLconf.

- A user of another organisation gets 404 for a project's routes, for every method the
  view implements (OWASP API1): the project's existence is not revealed.
- A project write key (``wk_``) authenticates nothing but ingestion: every read route
  answers 401/403 to it, whether sent as a Bearer token or as ``X-Api-Key``.

New routes are covered automatically; a route that needs an exception must say why here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.factories import UserFactory, member_with_project

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
# Ingestion endpoints take write keys by design; auth endpoints take no credentials.
_NOT_READ_ROUTES = ("api/v1/auth/", "api/v1/events", "v1/")


def _walk(patterns: list, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def _api_routes() -> list[tuple[str, list[str]]]:
    routes = []
    for route, pattern in _walk(get_resolver().url_patterns):
        view_class = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
        if not route.startswith("api/v1/") or view_class is None:
            continue
        routes.append((route, [method for method in METHODS if hasattr(view_class, method)]))
    return routes


def _url(route: str, project_id: int) -> str:
    path = route.replace("<int:project_id>", str(project_id))
    path = re.sub(r"<int:\w+>", "1", path)  # every object id (key, report, ...): one that may exist
    while "<" in path:
        start, end = path.index("<"), path.index(">")
        path = path[:start] + "someone" + path[end + 1 :]
    return "/" + path


PROJECT_ROUTES = [
    (route, method) for route, methods in _api_routes() if "<int:project_id>" in route for method in methods
]
READ_ROUTES = [route for route, methods in _api_routes() if "get" in methods and not route.startswith(_NOT_READ_ROUTES)]


def test_routes_were_found() -> None:
    assert ("api/v1/projects/<int:project_id>", "get") in PROJECT_ROUTES
    assert "api/v1/projects" in READ_ROUTES


@pytest.mark.parametrize(("route", "method"), PROJECT_ROUTES)
def test_non_member_gets_404_on_every_project_route(route: str, method: str) -> None:
    _, project = member_with_project()
    stranger = UserFactory()
    client = APIClient()
    client.force_authenticate(user=stranger)
    response = getattr(client, method)(_url(route, project.id), {}, format="json")
    assert response.status_code == 404, f"{method.upper()} {route}: {response.status_code} {response.content[:300]!r}"


@pytest.mark.parametrize("route", READ_ROUTES)
def test_a_write_key_cannot_read_any_route(route: str) -> None:
    _, project = member_with_project()
    url = _url(route, project.id)
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {project.write_key}")
    assert bearer.get(url).status_code in (401, 403), route
    assert APIClient().get(url, HTTP_X_API_KEY=project.write_key).status_code in (401, 403), route
