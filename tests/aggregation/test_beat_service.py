"""The embedded beat as `manage.py serve` runs it: a background thread with a stop event."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from analytics.aggregation.beat import BEAT_SERVICE
from analytics.aggregation.models import Watermark
from analytics.core.background import SERVICES
from analytics.core.timeutils import utc_now
from tests.aggregation.helpers import insert, random_events
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_beat_service_is_registered_and_runs_the_schedule_until_stopped(store: object) -> None:
    assert BEAT_SERVICE in SERVICES
    _, project = member_with_project()
    insert(random_events(project.id, utc_now() - timedelta(hours=2), timedelta(minutes=30), 30, seed=61))
    every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.update_or_create(
        name="aggregation: all streams",
        defaults={
            "task": "analytics.aggregation.tasks.aggregation_dispatch",
            "interval": every,
            "enabled": True,
            "last_run_at": None,
            "total_run_count": 0,
        },
    )
    stop = threading.Event()
    thread = threading.Thread(target=BEAT_SERVICE.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while (
            time.monotonic() < deadline
            and PeriodicTask.objects.get(name="aggregation: all streams").total_run_count < 2
        ):
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(60)

    assert not thread.is_alive()
    assert PeriodicTask.objects.get(name="aggregation: all streams").total_run_count >= 2
    assert Watermark.objects.filter(project=project, event_time_mark__isnull=False).count() == 5
