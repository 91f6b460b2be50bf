"""OpenAPI schema and docs (assets served locally), security headers, CORS policy."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_schema_is_served_and_documents_the_main_calls() -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path in (
        "/api/v1/auth/token",
        "/api/v1/auth/token/refresh",
        "/api/v1/projects",
        "/api/v1/projects/{project_id}",
    ):
        assert path in schema["paths"], path
    assert "personalApiKey" in schema["components"]["securitySchemes"]
    assert "jwtAuth" in schema["components"]["securitySchemes"]


def test_docs_page_and_its_assets_are_served_locally() -> None:
    client = Client()
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page[:500]
    assert not [url for url in assets if url.startswith(("http://", "https://", "//"))], assets
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts
    for url in scripts:
        asset = client.get(url)
        assert asset.status_code == 200, url


def test_security_headers_on_every_response() -> None:
    response = Client().get("/healthz")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


def test_ingestion_paths_accept_any_origin_without_credentials() -> None:
    response = Client().options(
        "/api/v1/events",
        HTTP_ORIGIN="https://shop.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-api-key",
    )
    assert response["Access-Control-Allow-Origin"] in ("*", "https://shop.example.org")
    assert "x-api-key" in response["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in response


@override_settings(CORS_ALLOWED_ORIGINS=["https://dash.example.com"])
def test_management_api_answers_only_allowed_origins() -> None:
    client = Client()
    foreign = client.options(
        "/api/v1/projects", HTTP_ORIGIN="https://evil.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert "Access-Control-Allow-Origin" not in foreign
    allowed = client.options(
        "/api/v1/projects", HTTP_ORIGIN="https://dash.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://dash.example.com"


def test_request_id_is_echoed_when_valid_and_generated_otherwise() -> None:
    client = Client()
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.def")["X-Request-ID"] == "abc-123.def"
    generated = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces\n")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz")["X-Request-ID"])


def test_schema_generates_without_warnings_and_validates(tmp_path: object) -> None:
    # --fail-on-warn turns any drf-spectacular warning (name clash, unresolvable type) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert text.startswith("openapi: 3")
    # The ingestion endpoints (plain Django views, added by a preprocessing hook) are validated too.
    assert "\n  /api/v1/events:\n" in text
    assert "\n  /v1/batch:\n" in text
