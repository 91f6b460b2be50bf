"""Stage: the telecom providers' paths (issue 22).

1. Kafka source topic -> store in the providers' shape (``consume_events --stream
   network-actions``, one JSON message per action, validated and mapped per action) next to
   the native consumer (``consume_events``, the product's wire format) on the same actions,
   in the same run. Target: at least 80 % of the native consumer's events/s.
2. The provider-facing reads on stored actions (10 million at scale 1, over 62 days, users
   drawn from a skewed law; every read timed once the fill's background merges settled,
   at most 3 minutes, as in the segments stage): the detail over 31 days (its first page and totals by day and
   month: what ``GET /api/v1/users/{id}/detail`` runs) of the heaviest user and of the user
   at the 99th percentile and of the median one, and the global aggregates
   (``GET /api/v1/aggregates``) by day and by month of whole days or months (the rollups)
   and of a range from the middle of a month at 13:37 to a ragged "now" (the rollups of the
   whole days and hours inside plus the raw edges, ``telecom/composed.py``; each answer is
   checked against one raw read of the range, whose time is kept in the details), after
   the aggregation caught up and the store's maintenance merged the closed months of
   ``action_user_days`` (the ragged month before that merge is in its details). Target:
   each under 100 ms (best of three, warm).
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from django.core.management import call_command

from analytics.accounts.keys import new_write_key
from analytics.accounts.models import Organisation, Project
from analytics.aggregation.services import aggregation_run
from analytics.core.timeutils import to_epoch_ms
from analytics.devtools.bench.consume import consumer_available, fill_and_consume
from analytics.devtools.bench.helpers import (
    best_of,
    chdb_session,
    kafka_broker,
    migrated_store,
    postgres_database,
    prepare_product,
    product_env,
    settle_merges,
)
from analytics.devtools.bench.kafka_raw import wire_messages
from analytics.devtools.bench.registry import Metric, StageContext, Unavailable, at_least, stage
from analytics.loadgen.scenarios import uuid_text_matrix
from analytics.telecom.queries.actions import global_totals_query
from analytics.telecom.selectors import Range, _total, global_aggregates, user_detail
from analytics.warehouse.identity import person_id_for
from analytics.warehouse.schema import ARROW_SCHEMA
from analytics.warehouse.services import user_days_partitions_optimize
from analytics.warehouse.store import get_store

READ_ACTIONS_AT_SCALE_ONE = 10_000_000
KAFKA_ACTIONS_AT_SCALE_ONE = 1_000_000
USERS_PER_ACTION = 0.01
START = datetime(2026, 5, 1, tzinfo=UTC)
DAYS = 62
BATCH_ROWS = 500_000
TYPES = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
READ_TARGET_MS = 100.0
RATIO_TARGET = 0.8


def actions_table(rows: int, *, users: int, project_id: int, seed: int, first_row: int = 0) -> pa.Table:
    """``rows`` network actions as stored rows (what network_actions.py makes), by numpy and Arrow."""
    rng = np.random.default_rng([seed, first_row])
    # Skewed users: user 0 is the heaviest.
    user = np.minimum((rng.random(rows) ** 3 * users).astype(np.int64), users - 1)
    kind = rng.integers(0, len(TYPES), size=rows)
    started = START.timestamp() * 1000 + np.sort(rng.integers(0, DAYS * 86_400_000, size=rows))
    duration = rng.integers(0, 900, size=rows)
    up = rng.exponential(200_000, size=rows).astype(np.int64)
    down = rng.exponential(2_000_000, size=rows).astype(np.int64)
    is_sms = (kind == 2) | (kind == 3)
    is_data = kind == 4
    raw_ids = rng.integers(0, 256, size=(rows, 16), dtype=np.uint8)
    raw_ids[:, 6] = (raw_ids[:, 6] & 0x0F) | 0x40
    raw_ids[:, 8] = (raw_ids[:, 8] & 0x3F) | 0x80
    ids = pa.array(uuid_text_matrix(raw_ids).view("S36").ravel().astype(str))
    started_ms = started.astype(np.int64)
    started_text = pc.strftime(pa.array(started_ms.astype("datetime64[ms]")), format="%Y-%m-%dT%H:%M:%SZ")
    ended_text = pc.strftime(
        pa.array((started_ms + duration * 1000).astype("datetime64[ms]")), format="%Y-%m-%dT%H:%M:%SZ"
    )
    measures = pc.binary_join_element_wise(
        '{"started_at":"',
        started_text,
        '","ended_at":"',
        ended_text,
        '","duration_sec":',
        pa.array(duration.astype(str)),
        ',"bytes_up":',
        pa.array(np.where(is_data, up, 0).astype(str)),
        ',"bytes_down":',
        pa.array(np.where(is_data, down, 0).astype(str)),
        "}",
        "",
    )
    sms = pc.binary_join_element_wise('{"started_at":"', started_text, '"}', "")
    names = np.array(TYPES)[kind]
    distinct = pa.array(np.char.add("47", np.char.zfill(user.astype(str), 8)))
    persons = {index: person_id_for(project_id, f"47{index:08d}") for index in np.unique(user).tolist()}
    columns: dict[str, Any] = {
        "project_id": pa.array(np.full(rows, project_id, dtype=np.uint64)),
        "event_id": ids,
        "event": pa.array(names.astype(str)),
        "distinct_id": distinct,
        "person_id": pa.array([persons[index] for index in user.tolist()]),
        "timestamp": pa.array(started_ms, pa.timestamp("ms", tz="UTC")),
        "received_at": pa.array(started_ms + 1000, pa.timestamp("ms", tz="UTC")),
        "source_id": pa.array(np.where(user % 2 == 0, "provider-1", "provider-2")),
        "lib": pa.array(np.full(rows, "network-actions")),
        "properties": pc.if_else(pa.array(is_sms), sms, measures),
        "retention_days": pa.array(np.full(rows, 3650, dtype=np.uint16)),
    }
    arrays = []
    for field in ARROW_SCHEMA:
        if field.name in columns:
            arrays.append(columns[field.name].cast(field.type))
        elif field.name == "flags":
            arrays.append(pa.array([[]] * rows, field.type))
        else:
            arrays.append(pa.nulls(rows, field.type) if field.nullable else pa.array([""] * rows, field.type))
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def provider_messages(table: pa.Table) -> list[tuple[bytes, bytes, int]]:
    """The same actions as the providers publish them: one JSON message each, keyed by user_id."""
    out = []
    for row in table.select(["event_id", "source_id", "distinct_id", "event", "properties"]).to_pylist():
        message = {
            "event_id": row["event_id"],
            "source_id": row["source_id"],
            "user_id": row["distinct_id"],
            "type": row["event"],
            **orjson.loads(row["properties"]),
        }
        out.append((row["distinct_id"].encode(), orjson.dumps(message), 1))
    return out


def _bench_project() -> Project:
    """A project in this stage's own Django database (the rollups and watermarks need one)."""
    call_command("migrate", verbosity=0, interactive=False)
    organisation = Organisation.objects.create(name="bench telecom")
    return Project.objects.create(
        organisation=organisation, name="bench telecom", write_key=new_write_key(), timezone="UTC", retention_days=3650
    )


def _fill_reads(ctx: StageContext, project_id: int) -> tuple[int, int]:
    rows = ctx.rows(READ_ACTIONS_AT_SCALE_ONE)
    users = max(100, int(rows * USERS_PER_ACTION))
    store = migrated_store()
    ctx.log("filling", actions=rows, users=users)
    for index, start in enumerate(range(0, rows, BATCH_ROWS)):
        batch = actions_table(
            min(BATCH_ROWS, rows - start), users=users, project_id=project_id, seed=22, first_row=start
        )
        store.insert_events(batch, dedup_token=f"bench-telecom-{index}")
    return rows, users


def _read_metric(name: str, figure_ms: float, details: dict[str, Any]) -> Metric:
    return Metric(
        name=name,
        figure=figure_ms,
        unit="ms",
        higher_is_better=False,
        target="< 100 ms",
        checks=[("under 100 ms", figure_ms < READ_TARGET_MS)],
        details=details,
    )


def _detail_metrics(ctx: StageContext, project: Project, rows: int, users: int) -> list[Metric]:
    month = Range(START + timedelta(days=15), START + timedelta(days=46))
    metrics = []
    # The skewed law makes user 0 the heaviest and activity fall with the index: the user at
    # the 99th percentile of activity and the median (typical) one.
    for label, index in (("heaviest user", 0), ("p99 user", users // 100), ("median user", users // 2)):
        call = functools.partial(
            user_detail, project=project, user_id=f"47{index:08d}", period=month, limit=100, cursor=None
        )
        in_range = sum(item["count"] for item in call()["totals"]["month"])
        figure = 1000 * best_of(call)
        ctx.log("detail", user=label, ms=round(figure, 1), actions=in_range)
        metrics.append(
            _read_metric(
                f"telecom detail, {label}, 31 days", figure, {"actions_stored": rows, "user_actions": in_range}
            )
        )
    return metrics


def _aggregate_metrics(ctx: StageContext, project: Project, rows: int) -> list[Metric]:
    # The aggregation as its beat leaves it once it caught up with the data (the hourly stream
    # moves at most a month of buckets per run).
    data_end = START + timedelta(days=DAYS)
    for granularity in ("1h", "1h", "1h", "1d", "1mo"):
        aggregation_run(project_id=project.id, granularity=granularity, now=data_end)
    ranges = {
        "day, whole days": Range(START + timedelta(days=15), START + timedelta(days=46)),
        "month, whole months": Range(START, START + timedelta(days=61)),
        # From the middle of a month at 13:37 to "now" (the last day, 10:12): ragged both ends.
        "day, other ranges": Range(START + timedelta(days=14, hours=13, minutes=37), data_end - timedelta(hours=14)),
        "month, other ranges": Range(
            START + timedelta(days=14, hours=13, minutes=37), data_end - timedelta(hours=13, minutes=48)
        ),
    }
    # The ragged month as right after the fill, its months of action_user_days in a few parts
    # each (ClickHouse's background merges leave them so): kept in the details. Then the
    # store's maintenance beat as it would run once after the fill, merging the closed months
    # of action_user_days into one part each (the figure is timed after it).
    ragged_month = functools.partial(
        global_aggregates, project=project, period_name="month", period=ranges["month, other ranges"]
    )
    ragged_month()
    before_merge_ms = 1000 * best_of(ragged_month)
    merged = user_days_partitions_optimize(now=data_end)
    ctx.log(
        "action_user_days closed months merged", partitions=merged, ragged_month_before_ms=round(before_merge_ms, 1)
    )
    metrics = []
    for label, period in ranges.items():
        period_name = label.split(",")[0]
        call = functools.partial(global_aggregates, project=project, period_name=period_name, period=period)
        answer = call()["totals"]
        raw_call = functools.partial(_raw_totals, project, period_name, period)
        if answer != raw_call():
            raise RuntimeError(f"aggregates, {label}: the answer differs from one raw read of the range")
        figure = 1000 * best_of(call)
        raw_ms = 1000 * best_of(raw_call, runs=2)
        ctx.log("aggregates", range=label, ms=round(figure, 1), raw_ms=round(raw_ms, 1))
        details = {"actions_stored": rows, "actions_counted": sum(item["count"] for item in answer)}
        details["single_raw_read_ms"] = round(raw_ms, 1)
        if label == "month, other ranges":
            details["before_user_days_merge_ms"] = round(before_merge_ms, 1)
        metrics.append(_read_metric(f"telecom aggregates, {label}", figure, details))
    return metrics


def _raw_totals(project: Project, period_name: str, period: Range) -> list[dict[str, Any]]:
    """What the API answered before the rollups and the composed path: one raw read."""
    query = global_totals_query(
        project_id=project.id,
        start_ms=to_epoch_ms(period.start),
        end_ms=to_epoch_ms(period.end),
        tz_name=project.timezone,
        period=period_name,
    )
    return [{**_total(row), "unique_users": int(row["unique_users"])} for row in get_store().query(query).dicts()]


def _reads(ctx: StageContext) -> list[Metric]:
    project = _bench_project()
    rows, users = _fill_reads(ctx, project.id)
    ctx.log("merges settled", seconds=settle_merges(chdb_session(get_store())))
    return [*_detail_metrics(ctx, project, rows, users), *_aggregate_metrics(ctx, project, rows)]


def _consume(ctx: StageContext, bootstrap: str, stream: str, rows: int) -> Any:
    """One consumer process of ``stream`` over the same actions, in a product of its own."""
    workdir = ctx.workdir / stream
    with postgres_database(f"bench_telecom_{stream.replace('-', '_')}_{os.getpid()}") as database_url:
        env = product_env(workdir, mode="scale", DATABASE_URL=database_url, KAFKA_BOOTSTRAP_SERVERS=bootstrap)
        project_id = prepare_product(env)["project_id"]
        table = actions_table(rows, users=max(100, rows // 100), project_id=project_id, seed=23)
        messages = wire_messages(table) if stream == "events" else provider_messages(table)
        ctx.log("consuming", stream=stream, messages=len(messages))
        consumed = fill_and_consume(env, workdir, bootstrap, f"bench_{stream}", messages, project_id, stream=stream)
    if consumed.stored != rows:
        raise RuntimeError(f"{stream}: stored {consumed.stored} of {rows} actions")
    ctx.log("consumed", stream=stream, events_per_second=round(consumed.events / consumed.seconds))
    return consumed


def _kafka(ctx: StageContext) -> Metric:
    rows = ctx.rows(KAFKA_ACTIONS_AT_SCALE_ONE)
    metric = Metric(
        name="network-actions topic -> chDB",
        figure=None,
        unit="events/s",
        baseline_label="native consume_events, same actions",
        target=">= 80 % of native",
        details={"events": rows},
    )
    try:
        consumer_available()
        runs = {}
        with kafka_broker() as broker:
            for stream in ("events", "network-actions"):
                runs[stream] = _consume(ctx, broker.bootstrap_servers, stream, rows)
        metric.baseline = runs["events"].events / runs["events"].seconds
        metric.figure = runs["network-actions"].events / runs["network-actions"].seconds
        metric.details.update(
            native_seconds=round(runs["events"].seconds, 2),
            provider_seconds=round(runs["network-actions"].seconds, 2),
            provider_peak_rss_mb=runs["network-actions"].peak_rss_mb,
        )
    except Unavailable as error:
        metric.unavailable = str(error)
    baseline = metric.baseline or 0.0
    metric.checks.append(at_least(metric.figure, RATIO_TARGET * baseline, ">= 80 % of the native consumer's events/s"))
    return metric


@stage("telecom", "Telecom: providers' Kafka topic vs native consumer; detail and aggregates reads", order=90)
def run(ctx: StageContext) -> list[Metric]:
    return [*_reads(ctx), _kafka(ctx)]
