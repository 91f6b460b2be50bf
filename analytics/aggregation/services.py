"""Aggregation runs: watermark-driven, exact, idempotent.

A run of one stream (project, granularity):

1. locks the stream (locks.stream_lock) and reads its watermark;
2. asks ClickHouse for its clock (the clock of ``inserted_at``) and for the buckets
   holding late events: inserted since the inserted mark, timestamp behind the
   event-time mark;
3. computes, in one GROUP BY from raw events, every bucket x event of the range
   [event-time mark, now - allowed lateness) plus the whole of every dirty bucket;
4. in ONE database transaction replaces those buckets' rollups and advances both marks.

A crash anywhere before the commit leaves the old rollups and the old watermark, so
the rerun computes the same buckets again; a rerun after the commit finds nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from analytics.accounts.models import Project
from analytics.aggregation import metrics
from analytics.aggregation.granularity import (
    MAX_BUCKETS_PER_RUN,
    Granularity,
    bucket_add,
    bucket_ceil,
    bucket_floor,
    bucket_next,
)
from analytics.aggregation.locks import stream_lock
from analytics.aggregation.models import Watermark
from analytics.aggregation.partitions import months_spanning, rollup_partitions_ensure
from analytics.aggregation.queries.rollups import (
    first_event_time_query,
    late_buckets_query,
    rollup_query,
    store_clock_query,
)
from analytics.aggregation.rollup_storage import rollups_replace
from analytics.core.logging import get_logger
from analytics.core.timeutils import from_epoch_ms, utc_now
from analytics.warehouse.data_version import bump_data_versions
from analytics.warehouse.store import get_store

log = get_logger(__name__)


class WatermarkMoved(RuntimeError):
    """Another writer advanced the watermark during this run; the run's writes are undone."""


@dataclass
class RunResult:
    """What one run did. ``status``: done, idle (nothing new), skipped (stream locked)."""

    project_id: int
    granularity: str
    status: str
    start: datetime | None = None
    end: datetime | None = None
    events: int = 0
    rows_written: int = 0
    late_events: int = 0
    dirty_buckets: list[datetime] = field(default_factory=list)
    seconds: float = 0.0
    # Phases of ``seconds``: the rollup GROUP BY in ClickHouse, and the database transaction.
    query_seconds: float = 0.0
    write_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("start", "end"):
            data[key] = data[key].isoformat() if data[key] else None
        data["dirty_buckets"] = [bucket.isoformat() for bucket in self.dirty_buckets]
        return data


def streams_for(*, project_id: int | None = None, granularity: str | None = None) -> list[tuple[int, Granularity]]:
    """Every (project, granularity) stream, optionally narrowed."""
    projects = Project.objects.order_by("id").values_list("id", flat=True)
    if project_id is not None:
        projects = projects.filter(pk=project_id)
    granularities = [Granularity(granularity)] if granularity else list(Granularity)
    return [(pk, item) for pk in projects for item in granularities]


def watermark_get_or_create(*, project_id: int, granularity: Granularity) -> Watermark:
    watermark, _ = Watermark.objects.get_or_create(project_id=project_id, granularity=granularity.value)
    return watermark


def store_now() -> datetime:
    """The store's clock: watermarks compare with its inserted_at, never with ours."""
    return from_epoch_ms(int(get_store().query(store_clock_query()).scalar()))


def _record_lag(project: Project, granularity: Granularity, mark: datetime | None) -> None:
    if mark is None:
        return
    now = utc_now()
    labels = {"project": str(project.id), "granularity": granularity.value}
    metrics.WATERMARK_LAG.labels(**labels).set(max(0.0, (now - mark).total_seconds()))
    # The part of the lag the aggregation could remove: 0 when the stream is caught up.
    allowed = bucket_floor(now - timedelta(seconds=project.aggregation_lateness_seconds), granularity, project.timezone)
    metrics.AGGREGATION_BEHIND.labels(**labels).set(max(0.0, (allowed - mark).total_seconds()))


def watermark_lag_export() -> int:
    """Set ``watermark_lag_seconds`` of every stream from the database (called by each
    dispatch, so the figure keeps growing while a stream is stuck). Returns streams seen."""
    watermarks = Watermark.objects.filter(event_time_mark__isnull=False).select_related("project")
    count = 0
    for watermark in watermarks:
        _record_lag(watermark.project, Granularity(watermark.granularity), watermark.event_time_mark)
        count += 1
    return count


def aggregation_run(
    *, project_id: int, granularity: Granularity | str, now: datetime | None = None, wait: bool = False
) -> RunResult:
    """Aggregate one stream from its watermark to ``now`` minus the project's lateness.

    ``now`` (event time; defaults to ClickHouse's clock) exists for backfills and tests.
    Returns status "skipped" without touching anything when another run holds the stream.
    """
    granularity = Granularity(granularity)
    started = time.perf_counter()
    project = Project.objects.get(pk=project_id)
    watermark = watermark_get_or_create(project_id=project.id, granularity=granularity)
    try:
        with stream_lock(watermark.pk, wait=wait) as locked:
            if locked is None:
                metrics.RUNS_SKIPPED.labels(granularity=granularity.value).inc()
                log.info("aggregation.run.skipped", project_id=project.id, granularity=granularity.value)
                return RunResult(project.id, granularity.value, "skipped")
            result = _run_locked(project, locked, granularity, now, started)
    except Exception as error:
        metrics.AGGREGATION_ERRORS.labels(granularity=granularity.value, kind=type(error).__name__).inc()
        Watermark.objects.filter(pk=watermark.pk).update(last_error=f"{type(error).__name__}: {error}"[:2000])
        log.exception("aggregation.run.failed", project_id=project.id, granularity=granularity.value)
        raise
    result.seconds = time.perf_counter() - started
    metrics.AGGREGATION_DURATION.labels(granularity=granularity.value).observe(result.seconds)
    metrics.EVENTS_AGGREGATED.labels(granularity=granularity.value).inc(result.events)
    metrics.ROLLUP_ROWS_WRITTEN.labels(granularity=granularity.value).inc(result.rows_written)
    metrics.LATE_EVENTS.labels(granularity=granularity.value).inc(result.late_events)
    _record_lag(project, granularity, result.end)
    log.info("aggregation.run.finished", **{k: v for k, v in result.as_dict().items() if k != "dirty_buckets"})
    return result


def _run_locked(
    project: Project, watermark: Watermark, granularity: Granularity, now: datetime | None, started: float
) -> RunResult:
    store = get_store()
    tz_name = project.timezone
    now_at_store = store_now()
    inserted_until = now_at_store - timedelta(seconds=settings.AGGREGATION_INSERT_VISIBILITY_SECONDS)
    event_now = now or now_at_store
    final_end = bucket_floor(event_now - timedelta(seconds=project.aggregation_lateness_seconds), granularity, tz_name)

    old_mark, old_inserted = watermark.event_time_mark, watermark.inserted_mark
    if old_mark is None:
        first_ms = int(store.query(first_event_time_query(project_id=project.id)).scalar() or 0)
        start = bucket_floor(from_epoch_ms(first_ms), granularity, tz_name) if first_ms else final_end
        start = min(start, final_end)
    else:
        # A mark is always a boundary unless the project's time zone changed since.
        start = bucket_floor(old_mark, granularity, tz_name)
    end = max(start, min(final_end, bucket_add(start, granularity, tz_name, MAX_BUCKETS_PER_RUN[granularity])))

    dirty: list[datetime] = []
    late_events = 0
    if old_inserted is not None and old_mark is not None and inserted_until > old_inserted:
        late = store.query(
            late_buckets_query(
                project_id=project.id,
                granularity=granularity,
                tz_name=tz_name,
                inserted_after=old_inserted,
                inserted_until=inserted_until,
                before=start,
            )
        )
        for bucket_epoch, count in late.rows():
            dirty.append(from_epoch_ms(int(bucket_epoch) * 1000))
            late_events += int(count)
    new_inserted = max(inserted_until, old_inserted) if old_inserted else inserted_until

    result = RunResult(
        project.id, granularity.value, "idle", start=start, end=end, late_events=late_events, dirty_buckets=dirty
    )
    if end > start or dirty:
        query = rollup_query(
            project_id=project.id,
            granularity=granularity,
            tz_name=tz_name,
            measures=project.aggregated_measures,
            start=start,
            end=end,
            dirty_buckets=dirty,
            dirty_low=min(dirty) if dirty else None,
            dirty_high=bucket_next(max(dirty), granularity, tz_name) if dirty else None,
        )
        query_started = time.perf_counter()
        table = store.query(query).table
        result.query_seconds = time.perf_counter() - query_started
        result.status = "done"
        result.events = int(sum(table.column("count").to_pylist())) if table.num_rows else 0
        months = months_spanning(start, end) if end > start else []
        for bucket in dirty:
            months.extend(months_spanning(bucket, bucket))
        rollup_partitions_ensure(months)
    else:
        table = None

    write_started = time.perf_counter()
    with transaction.atomic():
        if table is not None:
            result.rows_written = rollups_replace(
                project_id=project.id,
                granularity=granularity.value,
                table=table,
                start=start,
                end=end,
                dirty_buckets=dirty,
                computed_at=utc_now(),
            )
        _watermark_advance(
            watermark=watermark,
            old_mark=old_mark,
            old_inserted=old_inserted,
            event_time_mark=end,
            inserted_mark=new_inserted,
            events=result.events,
            late_events=late_events,
            seconds=time.perf_counter() - started,
        )
    result.write_seconds = time.perf_counter() - write_started
    if dirty:
        # Late events changed final buckets that trends may answer from the rollups: answers
        # cached since those events were stored (under their version) read the old buckets.
        bump_data_versions([project.id])
    return result


def _watermark_advance(
    *,
    watermark: Watermark,
    old_mark: datetime | None,
    old_inserted: datetime | None,
    event_time_mark: datetime,
    inserted_mark: datetime,
    events: int,
    late_events: int,
    seconds: float,
) -> None:
    # Compare-and-set: if anything else moved the marks, raise and roll the rollups back.
    updated = Watermark.objects.filter(pk=watermark.pk, event_time_mark=old_mark, inserted_mark=old_inserted).update(
        event_time_mark=event_time_mark,
        inserted_mark=inserted_mark,
        last_run_at=utc_now(),
        last_run_seconds=seconds,
        last_run_events=events,
        last_run_late_events=late_events,
        last_error="",
        updated_at=utc_now(),
    )
    if updated != 1:
        raise WatermarkMoved(f"watermark {watermark.pk} moved during the run")


def aggregation_backfill(
    *,
    project_id: int,
    granularity: Granularity | str,
    start: datetime,
    end: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, int]:
    """Recompute every bucket in [start, end) of one stream from raw events (replace).

    Idempotent; limited to buckets the watermark already declares final (the regular
    runs own the rest). Works in chunks so progress can be reported; each chunk holds
    the stream lock (waiting for a running run) and commits on its own.
    """
    granularity = Granularity(granularity)
    project = Project.objects.get(pk=project_id)
    tz_name = project.timezone
    watermark = watermark_get_or_create(project_id=project.id, granularity=granularity)
    chunk_start = bucket_floor(start, granularity, tz_name)
    limit = bucket_ceil(end, granularity, tz_name)
    if watermark.event_time_mark is not None:
        limit = min(limit, watermark.event_time_mark)
    else:
        limit = min(
            limit,
            bucket_floor(utc_now() - timedelta(seconds=project.aggregation_lateness_seconds), granularity, tz_name),
        )
    chunk_buckets = max(1, MAX_BUCKETS_PER_RUN[granularity] // 4)
    chunks = []
    while chunk_start < limit:
        chunk_end = min(limit, bucket_add(chunk_start, granularity, tz_name, chunk_buckets))
        chunks.append((chunk_start, chunk_end))
        chunk_start = chunk_end
    totals = {"chunks": len(chunks), "events": 0, "rows_written": 0}
    for index, (chunk_start, chunk_end) in enumerate(chunks, start=1):
        # Read inside the lock, so a regular run that recomputes late buckets meanwhile
        # can never be overwritten by figures older than its own.
        with stream_lock(watermark.pk, wait=True) as locked:
            assert locked is not None
            table = (
                get_store()
                .query(
                    rollup_query(
                        project_id=project.id,
                        granularity=granularity,
                        tz_name=tz_name,
                        measures=project.aggregated_measures,
                        start=chunk_start,
                        end=chunk_end,
                    )
                )
                .table
            )
            rollup_partitions_ensure(months_spanning(chunk_start, chunk_end))
            with transaction.atomic():
                totals["rows_written"] += rollups_replace(
                    project_id=project.id,
                    granularity=granularity.value,
                    table=table,
                    start=chunk_start,
                    end=chunk_end,
                    dirty_buckets=[],
                    computed_at=utc_now(),
                )
        totals["events"] += int(sum(table.column("count").to_pylist())) if table.num_rows else 0
        if progress:
            progress(index, len(chunks))
    metrics.EVENTS_AGGREGATED.labels(granularity=granularity.value).inc(totals["events"])
    if chunks:
        bump_data_versions([project.id])  # rewritten rollups may answer cached trends
    log.info("aggregation.backfill.finished", project_id=project.id, granularity=granularity.value, **totals)
    return totals
