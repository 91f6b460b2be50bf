"""Stage 6: a plain scan of the stored events, next to the same query on a table the bench filled.

The product's figure is the query as the product runs it: through the store and the tenant
guard, ``FROM events`` (a plain MergeTree that holds each event once; duplicates are
dropped when they are written, so no read needs ``FINAL``: docs/event-store.md). The
baseline is the same query on a plain ``MergeTree ORDER BY tuple()`` copy filled straight
from Arrow in the same run. Target (issue "Exactly once at scan speed"): at least 50 % of
the baseline's speed both right after the insert, while the table still holds many parts,
and after ``OPTIMIZE ... FINAL`` has merged both tables (as past data is in production).

The events are spread over one day. A last figure reads only the merged day's last minute,
as the aggregation's 1-minute stream does every few seconds: it shows whether the sort key
lets a short time range be read without reading the whole day.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from analytics.devtools.bench.data import DataSpec, iter_batches
from analytics.devtools.bench.helpers import best_of, chdb_session, create_like, migrated_store, raw_insert
from analytics.devtools.bench.registry import Metric, StageContext, at_least, stage
from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore
from analytics.warehouse.transports import QueryResult

EVENTS_AT_SCALE_ONE = 10_000_000
PLAIN_TABLE = "bench_scan_plain"
COUNT_SQL = "SELECT count() FROM {table} WHERE project_id = {{project_id:UInt64}}"
GROUP_SQL = (
    "SELECT event, count() AS n FROM {table} WHERE project_id = {{project_id:UInt64}} GROUP BY event ORDER BY n DESC"
)
LAST_MINUTE_SQL = (
    "SELECT event, count() AS n, uniqExact(distinct_id) AS users FROM {table} "
    "WHERE project_id = {{project_id:UInt64}} AND timestamp >= fromUnixTimestamp64Milli({{from_ms:Int64}}, 'UTC') "
    "AND timestamp < fromUnixTimestamp64Milli({{to_ms:Int64}}, 'UTC') GROUP BY event"
)
PARTS_SQL = "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = '{table}' AND active"
DAY_SECONDS = 86_400
TARGET_RATIO = 0.5
BASELINE_LABEL = "plain MergeTree ORDER BY tuple(), same rows"


@stage("scan", "Plain scan: count() and group-by event over the stored events vs a plain chDB table", order=60)
def run(ctx: StageContext) -> list[Metric]:
    spec = ctx.spec(EVENTS_AT_SCALE_ONE, events_per_second=ctx.rows(EVENTS_AT_SCALE_ONE) / DAY_SECONDS, confine=True)
    store = migrated_store()
    session = chdb_session(store)
    create_like(session, PLAIN_TABLE, engine="MergeTree ORDER BY tuple()")
    ctx.log("filling", events=spec.events)
    for index, batch in enumerate(iter_batches(spec)):
        store.insert_events(batch, dedup_token=f"bench-scan-{index}")
        raw_insert(session, PLAIN_TABLE, batch)
    params = {"project_id": spec.project_id}

    def product(sql: str, name: str) -> QueryResult:
        return store.query(Query(name=name, sql=sql.format(table="events"), params=params))

    def plain(sql: str) -> Any:
        return session.query(sql.format(table=PLAIN_TABLE), "ArrowTable", params=params)

    stored = product(COUNT_SQL, "bench.scan.count").scalar()
    plain_count = plain(COUNT_SQL).column(0)[0].as_py()
    if stored != spec.events or plain_count != spec.events:
        raise RuntimeError(f"expected {spec.events} rows, events has {stored}, plain table {plain_count}")
    metrics = []
    for phase in ("unmerged", "merged"):
        if phase == "merged":
            ctx.log("merging both tables (OPTIMIZE FINAL)")
            store.command("OPTIMIZE TABLE events FINAL")
            session.query(f"OPTIMIZE TABLE {PLAIN_TABLE} FINAL")
        parts = {table: _active_parts(session, table) for table in ("events", PLAIN_TABLE)}
        ctx.log("querying", phase=phase, parts=parts)
        for label, sql in (("count()", COUNT_SQL), ("group by event", GROUP_SQL)):
            # functools.partial, not a lambda with default arguments: mypy cannot infer those.
            figure = best_of(functools.partial(product, sql, f"bench.scan.{label}"))
            baseline = best_of(functools.partial(plain, sql))
            metric = Metric(
                name=f"scan {label}, {phase}",
                figure=spec.events / figure,
                unit="rows/s",
                baseline=spec.events / baseline,
                baseline_label=BASELINE_LABEL,
                target=">= 50% of plain",
                details={
                    "rows": spec.events,
                    "seconds": round(figure, 4),
                    "baseline_seconds": round(baseline, 4),
                    "events_parts": parts["events"],
                    "baseline_parts": parts[PLAIN_TABLE],
                },
            )
            metric.checks.append(at_least(metric.ratio, TARGET_RATIO, "ratio >= 0.50"))
            metrics.append(metric)
    metrics.append(_last_minute(store, session, spec, params))
    return metrics


def _active_parts(session: Any, table: str) -> int:
    return int(session.query(PARTS_SQL.format(table=table), "ArrowTable").column(0)[0].as_py())


def _last_minute(store: EventStore, session: Any, spec: DataSpec, params: dict[str, Any]) -> Metric:
    """The merged day's last minute (both tables were merged by the caller)."""
    window = {**params, "from_ms": spec.end_ms - 60_000, "to_ms": spec.end_ms}
    product = best_of(
        lambda: store.query(
            Query(name="bench.scan.last_minute", sql=LAST_MINUTE_SQL.format(table="events"), params=window)
        )
    )
    baseline = best_of(lambda: session.query(LAST_MINUTE_SQL.format(table=PLAIN_TABLE), "ArrowTable", params=window))
    rows = int(spec.events * 60 / DAY_SECONDS)
    return Metric(
        name="scan last minute of a merged day",
        figure=product,
        unit="s",
        higher_is_better=False,
        baseline=baseline,
        baseline_label=BASELINE_LABEL,
        target="reported (no target in the issues)",
        details={"rows_in_day": spec.events, "rows_in_minute": rows, "span": str(timedelta(seconds=DAY_SECONDS))},
    )
