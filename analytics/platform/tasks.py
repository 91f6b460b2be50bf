"""Celery tasks that join two apps below: thin wrappers around their services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from analytics.accounts.selectors import project_retentions
from analytics.warehouse import services as warehouse_services
from analytics.warehouse.errors import StoreUnavailable


@shared_task(
    name="analytics.platform.tasks.events_retention_enforce",
    autoretry_for=(StoreUnavailable,),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=3,
)
def events_retention_enforce() -> list[dict[str, Any]]:
    """Delete rows kept too long after a project's retention shrank (warehouse services)."""
    results = warehouse_services.events_retention_enforce_all(projects=project_retentions())
    return [result.__dict__ for result in results if result.expired_rows]
