"""Liveness, readiness (one entry per dependency, 503 when one fails) and metrics."""

from __future__ import annotations

import socket

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_is_200_without_touching_dependencies() -> None:
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_reports_every_dependency_ok(store: object) -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "event_store", "cache", "bus"}
    for name, check in body["checks"].items():
        assert check["status"] == "ok", name
        assert check["duration_ms"] >= 0


def test_readyz_is_503_naming_the_failed_dependency(store: object) -> None:
    broken_redis = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"
    caches = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": broken_redis,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    with override_settings(CACHES=caches):
        response = Client().get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["cache"]["status"] == "error"
    assert body["checks"]["cache"]["error"]
    assert "hunter2-secret" not in response.content.decode()
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["event_store"]["status"] == "ok"


def test_metrics_exposes_django_prometheus_and_our_own_metrics(store: object) -> None:
    client = Client()
    client.get("/healthz")
    client.get("/readyz")
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    # django-prometheus
    assert "django_http_requests_total_by_method_total" in text
    assert "django_http_responses_total_by_status_total" in text
    # ours
    assert 'analytics_dependency_up{dependency="database"} 1.0' in text
    assert "analytics_build_info{" in text
    assert "analytics_dependency_check_duration_seconds_bucket" in text
    assert "store_query_duration_seconds" in text


def test_healthz_rejects_writes() -> None:
    assert Client().post("/healthz").status_code == 405


def test_metrics_token_protects_the_scrape_endpoint() -> None:
    client = Client()
    with override_settings(METRICS_TOKEN="scrape-secret"):
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
        allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert allowed.status_code == 200
    assert b"analytics_build_info" in allowed.content
