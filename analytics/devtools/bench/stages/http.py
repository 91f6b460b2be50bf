"""Stage 1: HTTP ingestion, ``POST /api/v1/events`` with 100-event batches, one web process.

Measured in embedded mode (the store written before the answer) and in scale mode
(Kafka acknowledged before the answer), next to the raw rate of producing the same events
with confluent-kafka directly to the same kind of broker in the same run. The load client
runs on the same machine (pre-encoded bodies over keep-alive connections), so on a 2-core
box it takes part of the CPU the server would otherwise have. Targets (issue 4): at least
50,000 events/s per process and at least 15 % of the raw produce rate.

The client keeps 64 requests in flight (``CONNECTIONS``): an ingestion endpoint serves many
trackers and SDKs at once, and with "2xx means stored" the events in flight bound what one
group commit of the embedded mode can hold (8 connections: at most 800 events per chDB
insert, whose fixed cost then dominates). Each mode is also run with the stage's former
8 connections; that figure is in the details (``events_per_second_8_connections``).
"""

from __future__ import annotations

import os

import orjson

from analytics.devtools.bench.data import api_events, generate
from analytics.devtools.bench.helpers import kafka_broker, postgres_database, prepare_product, product_env, run_python
from analytics.devtools.bench.ingest import ServeRun, batch_bodies, serve_and_post
from analytics.devtools.bench.kafka_raw import create_topic, event_count, produce_raw, wire_messages
from analytics.devtools.bench.registry import Metric, StageContext, Unavailable, at_least, stage

EVENTS_AT_SCALE_ONE = 200_000
TARGET_RATE = 50_000
TARGET_RATIO = 0.15
CONNECTIONS = 64
FORMER_CONNECTIONS = 8

COUNT_CODE = """
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store
print(get_store().query(Query(name="bench.count", sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}",
                              params={"project_id": %d})).scalar())
"""


def _rate(run: ServeRun) -> float:
    return round(run.load.accepted / run.load.seconds) if run.load.seconds else 0.0


def _metric(mode: str, run: ServeRun | None, raw_rate: float, reason: str = "", **details: object) -> Metric:
    figure = None
    if run is not None:
        figure = run.load.accepted / run.load.seconds if run.load.seconds else None
        details.update(
            connections=CONNECTIONS,
            events_sent=run.events_sent,
            accepted=run.load.accepted,
            rejected=run.load.rejected,
            retries_429_503=run.load.retries,
            http_errors=run.load.errors,
            seconds=round(run.load.seconds, 2),
            request_p50_ms=round((run.load.percentile(0.5) or 0) * 1000, 1),
            request_p95_ms=round((run.load.percentile(0.95) or 0) * 1000, 1),
            web_peak_rss_mb=run.peak_rss_mb,
            web_idle_rss_mb=run.idle_rss_mb,
            # Embedded mode: a writer busy for the whole load (share ~1) is the bottleneck
            # (docs/benchmarks/2026-12-03-http-regression.md).
            **run.writer_details(),
        )
    metric = Metric(
        name=f"HTTP ingest ({mode})",
        figure=figure,
        unit="events/s",
        baseline=raw_rate,
        baseline_label="raw confluent-kafka produce",
        target=">= 50k/s and >= 15% of raw",
        details=details,
        unavailable=reason,
    )
    metric.checks.append(at_least(figure, TARGET_RATE, "events/s >= 50,000"))
    metric.checks.append(at_least(metric.ratio, TARGET_RATIO, "ratio >= 0.15"))
    return metric


@stage("http", "HTTP ingestion, 100-event batches, one web process, embedded and scale mode vs raw produce", order=10)
def run(ctx: StageContext) -> list[Metric]:
    spec = ctx.spec(EVENTS_AT_SCALE_ONE)
    table = generate(spec)
    events = api_events(table)
    bodies = batch_bodies(events)
    try:  # the product's own message format, when the Kafka bus has landed
        messages = wire_messages(table)
        message_format = "product wire format (enriched rows)"
    except ImportError:
        messages = [(event["distinct_id"].encode(), orjson.dumps(event), 1) for event in events]
        message_format = "API event JSON"
    metrics = []
    with kafka_broker() as broker:
        create_topic(broker.bootstrap_servers, "bench_raw")
        ctx.log("raw produce", events=event_count(messages), messages=len(messages))
        raw_rate = event_count(messages) / produce_raw(broker.bootstrap_servers, "bench_raw", messages)

        ctx.log("embedded mode", connections=CONNECTIONS)
        try:
            workdir = ctx.workdir / "embedded"
            env = product_env(workdir)
            project = prepare_product(env)
            served = serve_and_post(env, workdir, project["write_key"], bodies, connections=CONNECTIONS)
            stored = int(run_python(COUNT_CODE % project["project_id"], env))
            ctx.log("embedded mode", connections=FORMER_CONNECTIONS)
            workdir = ctx.workdir / "embedded-former-client"
            env = product_env(workdir)
            project = prepare_product(env)
            former = serve_and_post(env, workdir, project["write_key"], bodies, connections=FORMER_CONNECTIONS)
            metrics.append(
                _metric(
                    "embedded",
                    served,
                    raw_rate,
                    stored=stored,
                    baseline_messages=message_format,
                    events_per_second_8_connections=_rate(former),
                )
            )
        except Unavailable as error:
            metrics.append(_metric("embedded", None, raw_rate, str(error), baseline_messages=message_format))

        ctx.log("scale mode", connections=CONNECTIONS)
        workdir = ctx.workdir / "scale"
        topic = "bench_events"
        create_topic(broker.bootstrap_servers, topic)
        try:
            with postgres_database(f"bench_http_{os.getpid()}") as database_url:
                env = product_env(
                    workdir,
                    mode="scale",
                    DATABASE_URL=database_url,
                    KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
                    KAFKA_EVENTS_TOPIC=topic,
                )
                project = prepare_product(env)
                served = serve_and_post(env, workdir, project["write_key"], bodies, connections=CONNECTIONS)
                ctx.log("scale mode", connections=FORMER_CONNECTIONS)
                former = serve_and_post(env, workdir, project["write_key"], bodies, connections=FORMER_CONNECTIONS)
                metrics.append(
                    _metric(
                        "scale",
                        served,
                        raw_rate,
                        baseline_messages=message_format,
                        events_per_second_8_connections=_rate(former),
                    )
                )
        except Unavailable as error:
            metrics.append(_metric("scale", None, raw_rate, str(error), baseline_messages=message_format))
    return metrics
