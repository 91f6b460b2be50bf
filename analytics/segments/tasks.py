"""Celery tasks of segments: thin wrappers around services (the refresh and the clean-up of
retired memberships are scheduled by beat, see migrations/0002_beat_schedule.py and
0005_retired_drop_schedule.py; embedded mode runs tasks inline)."""

from __future__ import annotations

from celery import shared_task

from analytics.segments import services
from analytics.warehouse.errors import StoreUnavailable


@shared_task(name="analytics.segments.tasks.segments_refresh")
def segments_refresh() -> dict[str, int]:
    """Recompute sizes and (re)materialise the segments whose interval has passed."""
    return services.segments_refresh_due()


@shared_task(
    name="analytics.segments.tasks.segment_import_run",
    autoretry_for=(StoreUnavailable,),
    retry_backoff=30,
    max_retries=3,
)
def segment_import_run(import_id: int) -> str:
    """Import one CSV upload into its static segment."""
    return services.import_run(import_id=import_id).state


@shared_task(name="analytics.segments.tasks.segments_retired_drop")
def segments_retired_drop() -> dict[str, int]:
    """Drop the rows and sets of memberships retired more than SEGMENT_SET_GRACE_SECONDS ago."""
    return services.retired_drop()
