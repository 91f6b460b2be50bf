"""Stage 6: a plain scan of the stored events, next to the same query on a table the bench filled.

The product's figure is the query as the product runs it (through the store, the tenant
guard, ``FROM events FINAL`` on the ReplacingMergeTree). The baseline is the same query on a
plain ``MergeTree ORDER BY tuple()`` copy filled straight from Arrow: the gap is what the
storage layout and FINAL cost, so a layout regression shows as a falling ratio.

The events are spread over one day. After the two full scans the table is merged (as past
data is in production) and a third figure reads only the day's last minute, as the
aggregation's 1-minute stream does every few seconds: it shows whether the sort key lets
FINAL read a short time range without reading the whole day (docs/event-store.md).
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Any

from analytics.devtools.bench.data import DataSpec, iter_batches
from analytics.devtools.bench.helpers import best_of, chdb_session, create_like, migrated_store, raw_insert
from analytics.devtools.bench.registry import Metric, StageContext, stage
from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore
from analytics.warehouse.transports import QueryResult

EVENTS_AT_SCALE_ONE = 10_000_000
COUNT_SQL = "SELECT count() FROM {table} WHERE project_id = {{project_id:UInt64}}"
GROUP_SQL = (
    "SELECT event, count() AS n FROM {table} WHERE project_id = {{project_id:UInt64}} GROUP BY event ORDER BY n DESC"
)
LAST_MINUTE_SQL = (
    "SELECT event, count() AS n, uniqExact(distinct_id) AS users FROM {table} "
    "WHERE project_id = {{project_id:UInt64}} AND timestamp >= fromUnixTimestamp64Milli({{from_ms:Int64}}, 'UTC') "
    "AND timestamp < fromUnixTimestamp64Milli({{to_ms:Int64}}, 'UTC') GROUP BY event"
)
DAY_SECONDS = 86_400


@stage("scan", "Plain scan: count() and group-by event over the stored events vs a plain chDB table", order=60)
def run(ctx: StageContext) -> list[Metric]:
    spec = ctx.spec(EVENTS_AT_SCALE_ONE, events_per_second=ctx.rows(EVENTS_AT_SCALE_ONE) / DAY_SECONDS, confine=True)
    store = migrated_store()
    session = chdb_session(store)
    create_like(session, "bench_scan_plain", engine="MergeTree ORDER BY tuple()")
    ctx.log("filling", events=spec.events)
    for index, batch in enumerate(iter_batches(spec)):
        store.insert_events(batch, dedup_token=f"bench-scan-{index}")
        raw_insert(session, "bench_scan_plain", batch)
    params = {"project_id": spec.project_id}

    def product(sql: str, name: str) -> QueryResult:
        return store.query(Query(name=name, sql=sql.format(table="events FINAL"), params=params))

    def plain(sql: str) -> Any:
        return session.query(sql.format(table="bench_scan_plain"), "ArrowTable", params=params)

    def events_without_final(sql: str) -> Any:
        return session.query(sql.format(table="events"), "ArrowTable", params=params)

    stored = product(COUNT_SQL, "bench.scan.count").scalar()
    plain_count = plain(COUNT_SQL).column(0)[0].as_py()
    if stored != spec.events or plain_count != spec.events:
        raise RuntimeError(f"expected {spec.events} rows, events FINAL has {stored}, plain table {plain_count}")
    ctx.log("querying")
    metrics = []
    for label, sql in (("count()", COUNT_SQL), ("group by event", GROUP_SQL)):
        # functools.partial, not a lambda with default arguments: mypy cannot infer those.
        figure = best_of(functools.partial(product, sql, f"bench.scan.{label}"))
        baseline = best_of(functools.partial(plain, sql))
        # The same table without FINAL: splits the gap into what FINAL costs and what the layout costs.
        no_final = best_of(functools.partial(events_without_final, sql))
        metrics.append(
            Metric(
                name=f"scan {label}",
                figure=spec.events / figure,
                unit="rows/s",
                baseline=spec.events / baseline,
                baseline_label="plain MergeTree, no FINAL",
                target="reported (no target in the issues)",
                details={
                    "rows": spec.events,
                    "seconds": round(figure, 4),
                    "baseline_seconds": round(baseline, 4),
                    "events_without_final_seconds": round(no_final, 4),
                },
            )
        )
    metrics.append(_last_minute(ctx, store, session, spec, params))
    return metrics


def _last_minute(ctx: StageContext, store: EventStore, session: Any, spec: DataSpec, params: dict[str, Any]) -> Metric:
    ctx.log("merging the day (OPTIMIZE FINAL), then reading its last minute")
    store.command("OPTIMIZE TABLE events FINAL")
    window = {**params, "from_ms": spec.end_ms - 60_000, "to_ms": spec.end_ms}
    product = best_of(
        lambda: store.query(
            Query(name="bench.scan.last_minute", sql=LAST_MINUTE_SQL.format(table="events FINAL"), params=window)
        )
    )
    baseline = best_of(
        lambda: session.query(LAST_MINUTE_SQL.format(table="bench_scan_plain"), "ArrowTable", params=window)
    )
    rows = int(spec.events * 60 / DAY_SECONDS)
    return Metric(
        name="scan last minute of a merged day",
        figure=product,
        unit="s",
        higher_is_better=False,
        baseline=baseline,
        baseline_label="plain MergeTree, no FINAL",
        target="reported (no target in the issues)",
        details={"rows_in_day": spec.events, "rows_in_minute": rows, "span": str(timedelta(seconds=DAY_SECONDS))},
    )
