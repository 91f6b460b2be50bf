"""Celery tasks of the aggregation: thin wrappers around services.

``aggregation_dispatch`` (scheduled by beat) fans out one ``aggregation_stream`` task per
(project, granularity) as a Celery group, so streams run in parallel on the workers;
the stream lock keeps two runs of one stream from both writing. In embedded mode tasks
are eager: the dispatch runs the streams one after another in-process.
"""

from __future__ import annotations

from typing import Any

from celery import group, shared_task
from django.conf import settings

from analytics.aggregation import services
from analytics.aggregation.partitions import rollup_partitions_maintain as partitions_maintain
from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from analytics.warehouse.errors import StoreUnavailable

log = get_logger(__name__)


@shared_task(
    name="analytics.aggregation.tasks.aggregation_stream",
    autoretry_for=(StoreUnavailable,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def aggregation_stream(project_id: int, granularity: str) -> dict[str, Any]:
    """Run one stream (services.aggregation_run)."""
    return services.aggregation_run(project_id=project_id, granularity=granularity).as_dict()


@shared_task(name="analytics.aggregation.tasks.aggregation_dispatch")
def aggregation_dispatch(project_id: int | None = None, granularity: str | None = None) -> int:
    """Start a run of every stream (optionally narrowed); returns how many were started."""
    services.watermark_lag_export()
    streams = services.streams_for(project_id=project_id, granularity=granularity)
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        # In-process: one failing stream must not stop the others.
        for stream_project, stream_granularity in streams:
            try:
                services.aggregation_run(project_id=stream_project, granularity=stream_granularity)
            except Exception:  # logged and counted by the service
                log.warning(
                    "aggregation.dispatch.stream_failed",
                    project_id=stream_project,
                    granularity=stream_granularity.value,
                )
        return len(streams)
    group(
        aggregation_stream.s(stream_project, stream_granularity.value) for stream_project, stream_granularity in streams
    ).apply_async()
    return len(streams)


@shared_task(name="analytics.aggregation.tasks.rollup_partitions_maintain")
def rollup_partitions_maintain() -> dict[str, int]:
    """Create coming rollup partitions, drop expired ones (partitions.rollup_partitions_maintain)."""
    return partitions_maintain(now=utc_now())
