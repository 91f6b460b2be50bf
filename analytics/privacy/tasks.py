"""Celery task of the privacy app: the work of one deletion request (services.deletion_execute).

In embedded mode tasks run eagerly, so the work is done before the API answers; in scale
mode a worker does it and the request's state shows how far it got.
"""

from __future__ import annotations

from celery import shared_task

from analytics.privacy import services
from analytics.warehouse.errors import StoreUnavailable


@shared_task(
    name="analytics.privacy.tasks.person_forget",
    autoretry_for=(StoreUnavailable,),
    retry_backoff=10,
    retry_backoff_max=300,
    max_retries=5,
    acks_late=True,
)
def person_forget(deletion_id: str, distinct_id: str) -> str:
    """Forget one person; returns the request's final state."""
    return str(services.deletion_execute(deletion_id=deletion_id, distinct_id=distinct_id).state)
