"""The two processes of the aggregation stage: fill the store, then run the aggregation.

Run through :func:`analytics.devtools.bench.helpers.run_python` with a product environment, so that
the run's own process has its own peak memory (the fill process holds the data batches).
Both print one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
from datetime import datetime, timedelta

from analytics.accounts.models import Project
from analytics.aggregation.services import aggregation_run
from analytics.devtools.bench.data import DataSpec, iter_batches
from analytics.devtools.bench.helpers import chdb_session, timed
from analytics.warehouse.store import get_store

MEASURES = ("revenue", "duration_sec", "bytes_up", "bytes_down")
BUCKETS = {"1m": "toStartOfMinute", "5m": "toStartOfFiveMinutes", "1h": "toStartOfHour"}


def fill(*, project_id: int, events: int, start: str) -> None:
    """One hour of ``events`` (3,000/s at scale 1) into ``events``, through the store."""
    spec = DataSpec(
        events=events,
        users=max(1, events // 10),
        project_id=project_id,
        events_per_second=events / 3600,
        start=datetime.fromisoformat(start),
        confine=True,
    )
    store = get_store()
    for index, batch in enumerate(iter_batches(spec)):
        store.insert_events(batch, dedup_token=f"bench-agg-{index}")
    sys.stdout.write(json.dumps({"inserted": events}) + "\n")


def baseline_sql(granularity: str) -> str:
    """The same statistics as a rollup in one query on the same table, nothing written.

    The baseline is what the engine needs for the computation itself.
    """
    stats = []
    for index, measure in enumerate(MEASURES):
        value = (
            "toFloat64(revenue)"
            if measure == "revenue"
            else f"JSONExtract(properties, '{measure}', 'Nullable(Float64)')"
        )
        stats.append(
            f"count({value}) AS c{index}, sum({value}) AS s{index}, min({value}) AS lo{index}, "
            f"max({value}) AS hi{index}, avg({value}) AS a{index}, "
            f"quantilesExactInclusive(0.25, 0.5, 0.75, 0.9, 0.99)({value}) AS q{index}"
        )
    return (
        f"SELECT toUnixTimestamp({BUCKETS[granularity]}(timestamp)) AS bucket, event, count() AS n, "
        f"uniqExact(distinct_id) AS users, uniqExact(person_id) AS persons, {', '.join(stats)} "
        "FROM events WHERE project_id = {project_id:UInt64} "
        "AND timestamp >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') "
        "AND timestamp < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC') GROUP BY bucket, event"
    )


def run(*, project_id: int, start: str, granularities: list[str]) -> None:
    """For each granularity: the raw baseline query, then one aggregation run over the hour."""
    begin = datetime.fromisoformat(start)
    end = begin + timedelta(hours=1)
    project = Project.objects.get(pk=project_id)
    lateness = timedelta(seconds=getattr(project, "aggregation_lateness_seconds", 0) or 0)
    session = chdb_session(get_store())
    params = {
        "project_id": project_id,
        "start_ms": int(begin.timestamp() * 1000),
        "end_ms": int(end.timestamp() * 1000),
    }
    results = []
    # Warm-up, untimed: the first query over the fresh table would otherwise pay for the cold
    # caches on behalf of whichever measurement came first.
    session.query(baseline_sql("1h"), "ArrowTable", params=params)
    for granularity in granularities:

        def baseline_query(granularity: str = granularity) -> None:
            session.query(baseline_sql(granularity), "ArrowTable", params=params)

        # The baseline runs before and after the (single, not repeatable) aggregation run and
        # the faster of the two counts, so a burst of load on a shared machine hurts it less.
        before = timed(baseline_query)
        outcome = aggregation_run(project_id=project_id, granularity=granularity, now=end + lateness)
        baseline = min(before, timed(baseline_query))
        results.append(
            {
                "granularity": granularity,
                "seconds": outcome.seconds,
                "status": outcome.status,
                "events": outcome.events,
                "rows_written": outcome.rows_written,
                "start": outcome.start.isoformat() if outcome.start else None,
                "end": outcome.end.isoformat() if outcome.end else None,
                "baseline_seconds": baseline,
            }
        )
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    sys.stdout.write(json.dumps({"runs": results, "peak_rss_mb": peak}) + "\n")
