"""Stage 5: one aggregation run over one hour of events, and the watermark lag under load.

One hour at 3,000 events/s is 10.8 million events at scale 1. A fill process inserts
them through the store; a second process runs ``aggregation_run`` once per granularity
(1m, 5m, 1h) over exactly that hour, with the rollups written to a scratch PostgreSQL
database (COPY + upsert, the scale-mode path). Baseline: the same statistics computed
by one raw chDB query on the same table (nothing written, no Django). Target (issue 6): a run under 5 s.
"""

from __future__ import annotations

import json
import os

from analytics.devtools.bench.helpers import postgres_database, prepare_product, product_env, run_python
from analytics.devtools.bench.registry import Metric, StageContext, at_most, stage

EVENTS_AT_SCALE_ONE = 10_800_000
HOUR_START = "2026-06-01T00:00:00+00:00"
GRANULARITIES = ["1m", "5m", "1h"]
TARGET_SECONDS = 5.0


@stage("aggregation", "Aggregation: one run over one hour of 10.8M events (1m, 5m, 1h)", order=50)
def run(ctx: StageContext) -> list[Metric]:
    events = ctx.rows(EVENTS_AT_SCALE_ONE)
    with postgres_database(f"bench_agg_{os.getpid()}") as database_url:
        env = product_env(ctx.workdir / "aggregation", DATABASE_URL=database_url)
        project = prepare_product(env)
        ctx.log("filling", events=events)
        run_python(
            "from analytics.devtools.bench.aggregation_worker import fill\n"
            f"fill(project_id={project['project_id']}, events={events}, start={HOUR_START!r})",
            env,
            timeout=900,
        )
        ctx.log("aggregating")
        answer = json.loads(
            run_python(
                "from analytics.devtools.bench.aggregation_worker import run\n"
                f"run(project_id={project['project_id']}, start={HOUR_START!r}, granularities={GRANULARITIES!r})",
                env,
                timeout=900,
            )
        )
    metrics = []
    for item in answer["runs"]:
        metric = Metric(
            name=f"aggregation run {item['granularity']} over 1 h",
            figure=item["seconds"],
            unit="s",
            baseline=item["baseline_seconds"],
            baseline_label="same stats, one raw chDB query, no write",
            higher_is_better=False,
            target="< 5 s",
            details={**item, "events_in_store": events, "run_process_peak_rss_mb": answer["peak_rss_mb"]},
        )
        metric.checks.append(at_most(item["seconds"], TARGET_SECONDS, "run < 5 s"))
        metrics.append(metric)
    return metrics
