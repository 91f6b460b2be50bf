"""A hook for the benchmark suite: time one aggregation run over one hour of events.

``measure_run(project_id, hour_start)`` points the project's stream at ``hour_start``
(event-time watermark) and runs it once with "now" just past the hour plus the allowed
lateness, so the run covers exactly [hour_start, hour_start + 1 h): one GROUP BY in
ClickHouse over every event of that hour (exact uniques and percentiles of every
measure), Arrow -> CSV -> COPY into a staging table, one upsert, the watermark update.
The issue's target: under 5 s for 10.8 million events (3,000/s for an hour), 1m stream.

It rewrites that stream's watermark and rollups, so point it at a benchmark project; a
project id unknown to the Django database is created (organisation "benchmark", UTC).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.color import no_style
from django.db import connection, transaction

from analytics.accounts.keys import new_write_key
from analytics.accounts.models import Organisation, Project
from analytics.aggregation.granularity import Granularity
from analytics.aggregation.models import Watermark
from analytics.aggregation.services import aggregation_run, store_now


def _benchmark_project(project_id: int) -> Project:
    """The project, created (UTC, default measures) when the benchmark filled the store
    for a project id the Django database does not know."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        organisation = Organisation.objects.create(name="benchmark")
        project = Project.objects.create(
            pk=project_id, organisation=organisation, name=f"benchmark {project_id}", write_key=new_write_key()
        )
        # An explicit id does not move PostgreSQL's sequence; move it so later projects get free ids.
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [Project]):
                cursor.execute(statement)
    return project


def measure_run(project_id: int, hour_start: datetime, granularity: str = Granularity.MINUTE.value) -> dict[str, Any]:
    """Run the ``granularity`` stream of ``project_id`` over [hour_start, hour_start + 1 h).

    Returns {"seconds", "events", "rows_written", "query_seconds", "write_seconds",
    "granularity", "status"}; ``seconds`` is the whole run, lock to commit. Sub-hour and
    hour granularities only (a day bucket is not final after one hour).
    """
    granularity_value = Granularity(granularity)
    if granularity_value.fixed_seconds is None:
        raise ValueError("measure_run times one hour; use 1m, 5m or 1h")
    hour_start = hour_start.astimezone(UTC)
    project = _benchmark_project(project_id)
    # Every event inserted so far is "seen": the run reads the hour, not late events.
    now_at_store = store_now()
    with transaction.atomic():
        Watermark.objects.update_or_create(
            project=project,
            granularity=granularity_value.value,
            defaults={"event_time_mark": hour_start, "inserted_mark": now_at_store},
        )
    now = hour_start + timedelta(hours=1, seconds=project.aggregation_lateness_seconds)
    started = time.perf_counter()
    result = aggregation_run(project_id=project.id, granularity=granularity_value, now=now, wait=True)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "events": result.events,
        "rows_written": result.rows_written,
        "query_seconds": result.query_seconds,
        "write_seconds": result.write_seconds,
        "granularity": granularity_value.value,
        "status": result.status,
    }
