"""Recompute the rollup buckets a forgotten person contributed to.

Rollups (``aggregation.Rollup``) hold counts and unique users per bucket; after a person's
events are deleted, every final bucket holding one of them must be computed again from the
remaining events. Only the buckets the person touched are recomputed, each stream under its
stream lock (so a regular run cannot write figures read before the delete after ours), with
the aggregation's own SQL (``rollup_query`` with the buckets as "dirty" ones) and writer
(``rollups_replace``). Buckets not yet final (at or after the watermark) are left to the
regular runs, which read the events after the delete.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from analytics.accounts.models import Project
from analytics.aggregation.granularity import Granularity, bucket_floor, bucket_next
from analytics.aggregation.locks import stream_lock
from analytics.aggregation.partitions import months_spanning, rollup_partitions_ensure
from analytics.aggregation.queries.rollups import rollup_query
from analytics.aggregation.rollup_storage import rollups_replace
from analytics.aggregation.services import watermark_get_or_create
from analytics.core.timeutils import utc_now
from analytics.warehouse.store import EventStore

BUCKETS_PER_QUERY = 500


def touched_buckets(minutes: Iterable[datetime], granularity: Granularity, tz_name: str) -> list[datetime]:
    """The distinct buckets of ``granularity`` that contain any of ``minutes``, sorted."""
    return sorted({bucket_floor(minute, granularity, tz_name) for minute in minutes})


def rollups_recompute(*, store: EventStore, project_id: int, minutes: list[datetime]) -> int:
    """Recompute the final buckets of every granularity that contain one of ``minutes``.

    Returns how many buckets were recomputed. Idempotent.
    """
    if not minutes:
        return 0
    project = Project.objects.get(pk=project_id)
    recomputed = 0
    for granularity in Granularity:
        watermark = watermark_get_or_create(project_id=project.id, granularity=granularity)
        with stream_lock(watermark.pk, wait=True) as locked:
            assert locked is not None
            if locked.event_time_mark is None:
                continue  # nothing of this stream is aggregated yet
            mark = locked.event_time_mark
            buckets = [bucket for bucket in touched_buckets(minutes, granularity, project.timezone) if bucket < mark]
            for offset in range(0, len(buckets), BUCKETS_PER_QUERY):
                chunk = buckets[offset : offset + BUCKETS_PER_QUERY]
                _recompute_chunk(store, project, granularity, chunk)
                recomputed += len(chunk)
    return recomputed


def _recompute_chunk(store: EventStore, project: Project, granularity: Granularity, chunk: list[datetime]) -> None:
    low, high = chunk[0], bucket_next(chunk[-1], granularity, project.timezone)
    table = store.query(
        rollup_query(
            project_id=project.id,
            granularity=granularity,
            tz_name=project.timezone,
            measures=project.aggregated_measures,
            start=low,
            end=low,  # an empty range: only the listed buckets
            dirty_buckets=chunk,
            dirty_low=low,
            dirty_high=high,
        )
    ).table
    rollup_partitions_ensure(months_spanning(low, high))
    with transaction.atomic():
        rollups_replace(
            project_id=project.id,
            granularity=granularity.value,
            table=table,
            start=low,
            end=low,
            dirty_buckets=chunk,
            computed_at=utc_now(),
        )
