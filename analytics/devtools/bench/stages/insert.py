"""Stage 3: the store's insert path through each transport, next to the raw engine.

Calls the event store's own measuring helper, :func:`analytics.devtools.bench.insert_measure.measure_insert`:
the same Arrow batches (50k rows) go alternately through ``EventStore.insert_events``
(de-duplication token, retries, breaker, metrics, the transport) and through the raw
engine (chDB: ``INSERT ... SELECT FROM Python(arrow)`` on the same session; native:
clickhouse-driver's columnar insert), into two scratch tables created ``AS events``.
The clickhouse-driver transport is measured when ``BENCH_CLICKHOUSE_URL`` names a server
that holds the events schema (ClickHouse 22+; Debian's 18.16 package cannot).
Target (issue 3): at least 70 % of the raw rate.
"""

from __future__ import annotations

import os

from analytics.devtools.bench.data import generate
from analytics.devtools.bench.helpers import migrated_store
from analytics.devtools.bench.insert_measure import measure_insert
from analytics.devtools.bench.registry import Metric, StageContext, at_least, stage

EVENTS_AT_SCALE_ONE = 2_000_000
BATCH_ROWS = 50_000
TARGET_RATIO = 0.70


def _metric(transport: str, measured: dict | None, reason: str = "") -> Metric:
    metric = Metric(
        name=f"store insert ({transport})", figure=None, unit="rows/s", target=">= 70% of raw", unavailable=reason
    )
    if measured:
        metric.figure = measured["store_rows_per_second"]
        metric.baseline = measured["raw_rows_per_second"]
        metric.baseline_label = "raw engine, same rows"
        metric.details = {key: measured[key] for key in ("rows", "batches", "batch_rows", "raw_label")}
    metric.checks.append(at_least(metric.ratio, TARGET_RATIO, "ratio >= 0.70"))
    return metric


@stage("insert", "Store insert through each transport vs the raw engine on the same rows", order=30)
def run(ctx: StageContext) -> list[Metric]:
    table = generate(ctx.spec(EVENTS_AT_SCALE_ONE))
    store = migrated_store()
    ctx.log("chdb", rows=table.num_rows)
    metrics = [_metric("chdb", measure_insert("chdb", table, batch_rows=BATCH_ROWS, store=store))]
    url = os.environ.get("BENCH_CLICKHOUSE_URL")
    if url:
        ctx.log("clickhouse-driver", rows=table.num_rows)
        metrics.append(_metric("clickhouse-driver", measure_insert("native", table, batch_rows=BATCH_ROWS, url=url)))
    else:
        metrics.append(
            _metric(
                "clickhouse-driver",
                None,
                "no ClickHouse 22+ server here (Debian's 18.16 cannot hold "
                "the events schema); set BENCH_CLICKHOUSE_URL to measure",
            )
        )
    return metrics
