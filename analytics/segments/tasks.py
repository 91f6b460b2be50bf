"""Celery tasks of segments: thin wrappers around services (the refresh, the clean-up of
retired memberships and the size history's back-fill are scheduled by beat, see
migrations/0002_beat_schedule.py, 0005_retired_drop_schedule.py and
0007_history_backfill_schedule.py; embedded mode runs tasks inline)."""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings

from analytics.segments import history, services
from analytics.segments.models import Segment
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


@shared_task(name="analytics.segments.tasks.segments_history_backfill")
def segments_history_backfill() -> dict[str, int]:
    """Compute the missing past days of the segments' size history, within SEGMENT_HISTORY_BUDGET_SECONDS."""
    return history.segments_history_backfill_due()


@shared_task(name="analytics.segments.tasks.segment_history_backfill")
def segment_history_backfill(segment_id: int) -> int:
    """Back-fill one segment's size history now (sent when a definition is saved, in scale mode)."""
    segment = Segment.objects.filter(id=segment_id).first()
    if segment is None:
        return 0
    deadline = time.monotonic() + settings.SEGMENT_HISTORY_BUDGET_SECONDS
    return history.segment_history_backfill(segment=segment, deadline=deadline)
