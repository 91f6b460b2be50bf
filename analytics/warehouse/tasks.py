"""Celery tasks of the event store: thin wrappers around services (scheduled by beat,
see migrations/0001_beat_schedule.py). Retention enforcement needs the projects' settings,
which the store does not know: its task is in analytics/platform/tasks.py."""

from __future__ import annotations

from celery import shared_task

from analytics.warehouse import services
from analytics.warehouse.errors import StoreUnavailable


@shared_task(
    name="analytics.warehouse.tasks.events_partitions_optimize",
    autoretry_for=(StoreUnavailable,),
    retry_backoff=60,
    retry_backoff_max=600,
    max_retries=3,
)
def events_partitions_optimize() -> list[str]:
    """Merge closed months of ``events``, ``action_user_days`` and ``network_actions`` into
    one part each: part-count maintenance (services). Returns the events' partition ids."""
    services.user_days_partitions_optimize()
    services.network_actions_partitions_optimize()
    return services.events_partitions_optimize()
