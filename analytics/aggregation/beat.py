"""The beat schedule driven inside `manage.py serve` (embedded mode).

Scale mode runs `celery beat` with django-celery-beat's DatabaseScheduler. Embedded mode
has no separate beat process, so this background service reads the same PeriodicTask
rows (enabled, interval/crontab/solar/clocked, editable in the admin) once a second
and runs the due ones in-process, recording last_run_at and total_run_count as beat does.
"""

from __future__ import annotations

import functools
import json
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import close_old_connections, connections
from django_celery_beat.models import PeriodicTask

from analytics.core.background import BackgroundService
from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from config.celery_app import app

if TYPE_CHECKING:
    from celery import Celery

log = get_logger(__name__)

TICK_SECONDS = 1.0


@functools.cache
def _celery_app() -> Celery:
    """The Celery app with its task modules imported, once per process.

    import_default_modules() fires Celery's import signal, on which Django's fixup runs
    every system check: far too much for a once-a-second tick.
    """
    app.loader.import_default_modules()
    return app


def due_periodic_tasks(*, now: datetime | None = None) -> list[PeriodicTask]:
    """Enabled periodic tasks whose schedule says they are due."""
    now = now or utc_now()
    due = []
    for task in PeriodicTask.objects.filter(enabled=True).select_related("interval", "crontab", "solar", "clocked"):
        if task.one_off and task.total_run_count:
            continue
        if task.start_time and task.start_time > now:
            continue
        if task.expires and task.expires < now:
            continue
        if task.clocked_id:
            if task.clocked.clocked_time <= now and not task.total_run_count:
                due.append(task)
            continue
        if task.last_run_at is None:
            due.append(task)
            continue
        is_due, _ = task.schedule.is_due(task.last_run_at)
        if is_due:
            due.append(task)
    return due


def run_due_tasks(*, now: datetime | None = None) -> list[str]:
    """Run every due periodic task in this process; returns the names run."""
    app = _celery_app()
    ran = []
    for task in due_periodic_tasks(now=now):
        started = utc_now()
        # Recorded first: a task that fails keeps its schedule instead of re-running every tick.
        PeriodicTask.objects.filter(pk=task.pk).update(
            last_run_at=started, total_run_count=task.total_run_count + 1, date_changed=started
        )
        function = app.tasks.get(task.task)
        if function is None:
            log.warning("beat.task.unknown", task=task.task, name=task.name)
            continue
        try:
            function.apply(args=json.loads(task.args or "[]"), kwargs=json.loads(task.kwargs or "{}"), throw=True)
            log.info("beat.task.ran", name=task.name, seconds=(utc_now() - started).total_seconds())
        except Exception:  # one failing task must not stop the schedule
            log.exception("beat.task.failed", name=task.name)
        ran.append(task.name)
    return ran


def run_beat(stop_event: threading.Event) -> None:
    """BackgroundService body: tick until ``stop_event`` is set."""
    try:
        while not stop_event.is_set():
            try:
                run_due_tasks()
            except Exception:  # e.g. the database is briefly locked; try next tick
                log.exception("beat.tick.failed")
            finally:
                close_old_connections()
            stop_event.wait(TICK_SECONDS)
    finally:
        connections.close_all()  # this thread's connections only


BEAT_SERVICE = BackgroundService(name="aggregation-beat", run=run_beat)
