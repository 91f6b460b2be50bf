"""Scale mode: the dispatch fans out one task per stream as a Celery group, executed by a
real Celery worker (in-process thread, in-memory broker) against PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker

from analytics.aggregation.models import Watermark
from analytics.aggregation.tasks import aggregation_dispatch
from config.celery_app import app
from tests.aggregation.helpers import assert_rollups_equal, expected_rollups, insert, random_events, stored_rollups
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def celery_worker(settings: Any) -> Iterator[None]:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False, shutdown_timeout=30):
            yield
    finally:
        app.conf.task_always_eager = previous


def test_dispatch_runs_every_stream_of_every_project_on_the_workers(store: object, celery_worker: None) -> None:
    projects = [member_with_project()[1] for _ in range(2)]
    start = datetime(2026, 8, 3, 6, tzinfo=UTC)
    rows = {
        project.id: random_events(project.id, start, timedelta(hours=1), 150, seed=project.id) for project in projects
    }
    for project_rows in rows.values():
        insert(project_rows)

    started = aggregation_dispatch()

    assert started == 10
    deadline = time.monotonic() + 120
    while Watermark.objects.filter(event_time_mark__isnull=False).count() < 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert Watermark.objects.filter(event_time_mark__isnull=False).count() == 10
    for project in projects:
        assert_rollups_equal(
            stored_rollups(project.id, "1h"),
            expected_rollups(rows[project.id], "1h", "UTC", ["revenue", "duration_sec", "bytes_up", "bytes_down"]),
        )
