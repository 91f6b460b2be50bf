"""Stage 7: peak memory (RSS high-water mark) of the web process, the consumer and an aggregation run.

In a full suite run the figures come from the stages that already ran (http, consumer,
aggregation measured their processes' VmHWM / ru_maxrss while under their load), so
nothing is measured twice. With ``--only memory`` this stage runs smaller loads itself:
100k events posted to one embedded web process, 200k events through the consumer, and an
aggregation run over one hour of 1.08M events (sizes times BENCH_SCALE).
Baseline: the RSS of an idle process of ours (Django set up, the chDB store opened), the
floor every one of them starts from. No target is given in the issues: reported only.
"""

from __future__ import annotations

import json
import os

from analytics.devtools.bench.consume import consumer_available, fill_and_consume
from analytics.devtools.bench.data import api_events, generate, iter_batches
from analytics.devtools.bench.helpers import kafka_broker, postgres_database, prepare_product, product_env, run_python
from analytics.devtools.bench.ingest import batch_bodies, serve_and_post
from analytics.devtools.bench.kafka_raw import wire_messages
from analytics.devtools.bench.registry import Metric, StageContext, Unavailable, stage
from analytics.devtools.bench.stages.aggregation import GRANULARITIES, HOUR_START

IDLE_CODE = """
import json, resource
from analytics.warehouse.store import get_store
get_store().ping()
print(json.dumps(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)))
"""


def _from_previous(ctx: StageContext, stage_name: str, metric_prefix: str, key: str) -> tuple[float, str] | None:
    result = ctx.previous.get(stage_name)
    if not result or result.get("status") != "ok":
        return None
    for metric in result["metrics"]:
        if metric["name"].startswith(metric_prefix) and metric["details"].get(key):
            return float(metric["details"][key]), f"{stage_name} stage ({metric['name']})"
    return None


def _web(ctx: StageContext) -> tuple[float, str]:
    found = _from_previous(ctx, "http", "HTTP ingest (embedded)", "web_peak_rss_mb")
    if found:
        return found
    spec = ctx.spec(100_000)
    bodies = batch_bodies(api_events(generate(spec)))
    workdir = ctx.workdir / "web"
    env = product_env(workdir)
    project = prepare_product(env)
    served = serve_and_post(env, workdir, project["write_key"], bodies)
    if served.peak_rss_mb is None:
        raise RuntimeError("could not read the web process's VmHWM")
    return served.peak_rss_mb, f"this stage ({served.events_sent} events posted, embedded)"


def _consumer(ctx: StageContext) -> tuple[float, str]:
    found = _from_previous(ctx, "consumer", "consumer", "consumer_peak_rss_mb")
    if found:
        return found
    consumer_available()
    spec = ctx.spec(200_000)
    messages = [message for batch in iter_batches(spec) for message in wire_messages(batch)]
    with kafka_broker() as broker, postgres_database(f"bench_memory_{os.getpid()}") as database_url:
        env = product_env(
            ctx.workdir / "consumer",
            mode="scale",
            DATABASE_URL=database_url,
            KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        )
        project = prepare_product(env)
        consumed = fill_and_consume(
            env, ctx.workdir / "consumer", broker.bootstrap_servers, "bench_events", messages, project["project_id"]
        )
    if consumed.peak_rss_mb is None:
        raise RuntimeError("could not read the consumer's VmHWM")
    return consumed.peak_rss_mb, f"this stage ({consumed.events} events consumed)"


def _aggregation(ctx: StageContext) -> tuple[float, str]:
    found = _from_previous(ctx, "aggregation", "aggregation run", "run_process_peak_rss_mb")
    if found:
        return found
    events = ctx.rows(1_080_000)
    with postgres_database(f"bench_memory_agg_{os.getpid()}") as database_url:
        env = product_env(ctx.workdir / "aggregation", DATABASE_URL=database_url)
        project = prepare_product(env)
        run_python(
            "from analytics.devtools.bench.aggregation_worker import fill\n"
            f"fill(project_id={project['project_id']}, events={events}, start={HOUR_START!r})",
            env,
            timeout=900,
        )
        answer = json.loads(
            run_python(
                "from analytics.devtools.bench.aggregation_worker import run\n"
                f"run(project_id={project['project_id']}, start={HOUR_START!r}, granularities={GRANULARITIES!r})",
                env,
                timeout=900,
            )
        )
    return float(answer["peak_rss_mb"]), f"this stage (runs over one hour of {events} events)"


@stage("memory", "Peak memory of the web process, the consumer and the aggregation run", order=70)
def run(ctx: StageContext) -> list[Metric]:
    idle_env = product_env(ctx.workdir / "idle")
    prepare_product(idle_env)
    idle = float(json.loads(run_python(IDLE_CODE, idle_env)))
    metrics = []
    for label, measure in (("web process", _web), ("consumer", _consumer), ("aggregation run", _aggregation)):
        metric = Metric(
            name=f"peak RSS {label}",
            figure=None,
            unit="MB",
            baseline=idle,
            baseline_label="idle process (Django + chDB opened)",
            higher_is_better=False,
            target="reported (no target in the issues)",
        )
        try:
            peak, source = measure(ctx)
        except Unavailable as error:
            metric.unavailable = str(error)
        else:
            metric.figure = peak
            metric.details["measured_in"] = source
        metrics.append(metric)
    return metrics
