"""Celery tasks of the event store: thin wrappers around services (scheduled by beat,
see migrations/0001_beat_schedule.py)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from analytics.warehouse import selectors, services
from analytics.warehouse.errors import StoreUnavailable


@shared_task(
    name="analytics.warehouse.tasks.events_retention_enforce",
    autoretry_for=(StoreUnavailable,), retry_backoff=30, retry_backoff_max=600, max_retries=3,
)
def events_retention_enforce() -> list[dict[str, Any]]:
    """Delete rows kept too long after a project's retention shrank (services)."""
    results = services.events_retention_enforce_all(projects=selectors.project_retentions())
    return [result.__dict__ for result in results if result.expired_rows]


@shared_task(
    name="analytics.warehouse.tasks.events_partitions_optimize",
    autoretry_for=(StoreUnavailable,), retry_backoff=60, retry_backoff_max=600, max_retries=3,
)
def events_partitions_optimize() -> list[str]:
    """Merge closed months into one part each so FINAL stays cheap (services)."""
    return services.events_partitions_optimize()
