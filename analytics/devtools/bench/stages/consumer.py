"""Stage 2: the consumer, Kafka -> store, one process, next to a raw Arrow insert into chDB.

The topic is filled first with the product's wire format (1M events at scale 1, six
partitions); then one ``manage.py consume_events`` process drains it into its own chDB
directory. Its rate is read from the outside (the group's committed offsets, polled every
250 ms), from its first commit to the last, so process start-up and the group join are not
counted (the wall time with them is in the details). Baseline: the same rows inserted
straight into an events-shaped chDB table through Arrow, in 100k-row batches, in this run.
Target (issue 5): at least 150,000 events/s into chDB.
"""

from __future__ import annotations

import functools
import os

from analytics.devtools.bench.consume import consumer_available, fill_and_consume
from analytics.devtools.bench.data import iter_batches
from analytics.devtools.bench.helpers import (
    chdb_session,
    create_like,
    kafka_broker,
    migrated_store,
    postgres_database,
    prepare_product,
    product_env,
    raw_insert,
    timed,
)
from analytics.devtools.bench.kafka_raw import wire_messages
from analytics.devtools.bench.registry import Metric, StageContext, Unavailable, at_least, stage

EVENTS_AT_SCALE_ONE = 1_000_000
TARGET_RATE = 150_000


@stage("consumer", "Consumer Kafka -> chDB, one process, vs raw Arrow insert of the same rows", order=20)
def run(ctx: StageContext) -> list[Metric]:
    spec = ctx.spec(EVENTS_AT_SCALE_ONE, batch_rows=100_000)
    batches = list(iter_batches(spec))
    store = migrated_store()
    session = chdb_session(store)
    create_like(session, "bench_consumer_raw")
    raw_seconds = sum(timed(functools.partial(raw_insert, session, "bench_consumer_raw", batch)) for batch in batches)
    baseline = spec.events / raw_seconds
    metric = Metric(
        name="consumer Kafka -> chDB",
        figure=None,
        unit="events/s",
        baseline=baseline,
        baseline_label="raw chDB Arrow insert",
        target=">= 150k/s",
        details={"events": spec.events},
    )
    try:
        consumer_available()
        ctx.log("encoding", events=spec.events)
        messages = [message for batch in batches for message in wire_messages(batch)]
        with kafka_broker() as broker, postgres_database(f"bench_consumer_{os.getpid()}") as database_url:
            env = product_env(
                ctx.workdir / "consumer",
                mode="scale",
                DATABASE_URL=database_url,
                KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
            )
            project = prepare_product(env)
            if project["project_id"] != spec.project_id:
                raise RuntimeError(f"expected project {spec.project_id}, got {project['project_id']}")
            ctx.log("consuming", messages=len(messages))
            consumed = fill_and_consume(
                env, ctx.workdir / "consumer", broker.bootstrap_servers, "bench_events", messages, spec.project_id
            )
        metric.figure = consumed.events / consumed.seconds
        metric.details.update(
            stored=consumed.stored,
            lost=consumed.events - consumed.stored,
            produce_seconds=round(consumed.produce_seconds, 2),
            consume_seconds=round(consumed.seconds, 2),
            wall_seconds_with_startup=round(consumed.wall_seconds, 2),
            consumer_peak_rss_mb=consumed.peak_rss_mb,
            consumer_exit_code=consumed.exit_code,
        )
        if consumed.stored != consumed.events:
            raise RuntimeError(f"consumer stored {consumed.stored} of {consumed.events} events")
    except Unavailable as error:
        metric.unavailable = str(error)
    metric.checks.append(at_least(metric.figure, TARGET_RATE, "events/s >= 150,000"))
    return [metric]
