"""Stage 3: the store's insert path through each transport, next to the raw engine.

Figure: ``EventStore.insert_events`` (tenant-free insert with a de-duplication token,
retries, breaker, metrics, the transport's Arrow hand-off) into ``events``. Baseline: the
same Arrow batches inserted straight into an identical table through the chDB session,
nothing of ours in between. Batches alternate between the two so that both see the same
machine load. Target (issue 3): at least 70 % of the raw rate.
"""

from __future__ import annotations

import os

from analytics.bench.data import iter_batches
from analytics.bench.helpers import chdb_session, create_like, migrated_store, raw_insert, timed
from analytics.bench.registry import Metric, StageContext, Unavailable, at_least, stage

EVENTS_AT_SCALE_ONE = 2_000_000
BATCH_ROWS = 50_000
TARGET_RATIO = 0.70


def _chdb_metric(ctx: StageContext) -> Metric:
    spec = ctx.spec(EVENTS_AT_SCALE_ONE, batch_rows=BATCH_ROWS)
    store = migrated_store()
    session = chdb_session(store)
    create_like(session, "bench_insert_raw")  # same engine, order key and settings as events
    batches = list(iter_batches(spec))
    ctx.log("inserting", events=spec.events, batches=len(batches))
    product_seconds = raw_seconds = 0.0
    for index, batch in enumerate(batches):
        raw_seconds += timed(lambda batch=batch: raw_insert(session, "bench_insert_raw", batch))
        product_seconds += timed(lambda batch=batch, index=index: store.insert_events(
            batch, dedup_token=f"bench-insert-{index}"))
    figure, baseline = spec.events / product_seconds, spec.events / raw_seconds
    metric = Metric(
        name="store insert (chdb)", figure=figure, unit="rows/s", baseline=baseline,
        baseline_label="raw chDB Arrow insert", target=">= 70% of raw",
        details={"rows": spec.events, "batch_rows": BATCH_ROWS},
    )
    metric.checks.append(at_least(metric.ratio, TARGET_RATIO, "ratio >= 0.70"))
    return metric


@stage("insert", "Store insert through each transport vs the raw engine on the same rows", order=30)
def run(ctx: StageContext) -> list[Metric]:
    metrics = [_chdb_metric(ctx)]
    if not os.environ.get("BENCH_CLICKHOUSE_URL"):
        metrics.append(Metric(
            name="store insert (clickhouse-driver)", figure=None, unit="rows/s",
            target=">= 70% of raw",
            unavailable="no ClickHouse server on this machine (set BENCH_CLICKHOUSE_URL to measure it)",
        ))
        return metrics
    raise Unavailable("the clickhouse-driver measurement is not wired yet")
