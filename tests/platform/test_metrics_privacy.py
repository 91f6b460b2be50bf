"""/metrics does not list project ids unless METRICS_TOKEN is set or METRICS_PROJECT_LABELS allows it."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from analytics.aggregation import metrics

pytestmark = pytest.mark.django_db

SERIES = 'project="424242"'


@pytest.fixture
def project_series() -> None:
    metrics.WATERMARK_LAG.labels(project="424242", granularity="1h").set(5)
    yield
    metrics.WATERMARK_LAG.remove("424242", "1h")


@pytest.mark.usefixtures("project_series")
def test_an_open_metrics_endpoint_leaves_out_project_series() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    text = response.content.decode()
    assert SERIES not in text
    assert "analytics_build_info{" in text  # the rest is all there
    assert "# TYPE watermark_lag_seconds gauge" in text


@pytest.mark.usefixtures("project_series")
def test_the_token_or_the_setting_shows_project_series() -> None:
    with override_settings(METRICS_TOKEN="scrape-secret"):
        scraped = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert SERIES in scraped.content.decode()
    with override_settings(METRICS_PROJECT_LABELS=True):
        opened = Client().get("/metrics")
    assert SERIES in opened.content.decode()
