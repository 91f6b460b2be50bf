"""API clients get JSON errors even where no DRF view runs: unknown URLs and crashes."""

from __future__ import annotations

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

pytestmark = pytest.mark.django_db


def crash(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom with a secret pak_abcdefghijklmnop")


urlpatterns = [path("api/v1/crash", crash), path("crash", crash), path("", include("config.urls"))]
handler404 = "analytics.platform.views.not_found"
handler500 = "analytics.platform.views.server_error"


def test_unknown_api_url_is_a_json_404() -> None:
    response = Client().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_unknown_page_url_is_an_html_404() -> None:
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@override_settings(ROOT_URLCONF=__name__)
def test_a_crash_under_the_api_is_a_json_500_with_the_request_id() -> None:
    response = Client(raise_request_exception=False).get("/api/v1/crash", HTTP_X_REQUEST_ID="crash-1")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error == {
        "code": "server_error",
        "message": "internal error; quote the request_id when reporting it",
        "request_id": "crash-1",
    }
    assert b"boom" not in response.content


@override_settings(ROOT_URLCONF=__name__)
def test_a_crash_of_a_page_is_the_html_500() -> None:
    response = Client(raise_request_exception=False).get("/crash")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@override_settings(ROOT_URLCONF=__name__, DEBUG=True)
def test_the_dev_profile_answers_api_paths_with_json_not_the_debug_pages() -> None:
    client = Client(raise_request_exception=False)
    missing = client.get("/api/v1/no-such-thing", HTTP_ACCEPT="text/html")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    crashed = client.get("/api/v1/crash", HTTP_ACCEPT="text/html", HTTP_X_REQUEST_ID="crash-2")
    assert crashed.status_code == 500
    assert crashed.json()["error"] == {
        "code": "server_error",
        "message": "internal error; quote the request_id when reporting it",
        "request_id": "crash-2",
    }
    assert b"boom" not in crashed.content
    segment = client.get("/v1/no-such-call")
    assert segment.status_code == 404
    assert segment["Content-Type"] == "application/json"
    # Pages keep Django's debug pages in dev.
    assert client.get("/no-such-page")["Content-Type"].startswith("text/html")


@override_settings(DEBUG=True)
def test_drf_errors_under_the_api_are_left_to_drf() -> None:
    response = Client().get("/api/v1/projects", HTTP_ACCEPT="application/json")
    assert response.status_code == 401
    assert "application/json" in response["Content-Type"]
