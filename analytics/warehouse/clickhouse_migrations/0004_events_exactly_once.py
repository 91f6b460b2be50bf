"""Rebuild events as a plain MergeTree that holds each event once (no FINAL on any read).

Why: reads used ``FROM events FINAL`` on a ReplacingMergeTree to hide duplicates. That read
far slower than a plain read while the table had many parts, and it was not exact:
copies of one event with different timestamps fall into different hours (or months) of
the sort key and never collapse (docs/benchmarks/2026-12-02-dedup-candidates.md). Now an
event's identity is ``(project_id, source_id, event_id)``, duplicates are dropped when they
are written (analytics/warehouse/once.py), and every read is a plain read.

What: ``events_once`` with the live table's columns and indexes (``CREATE TABLE ... AS
events``, so this migration copies whatever columns the table has when it runs), engine
``MergeTree`` with the same month partitions, the sort key without ``event_id`` (nothing
collapses on it any more), the same TTL and insert de-duplication window, plus a minmax
index on ``inserted_at`` (the write-time filter and the late-event query read recently
inserted rows). The copy keeps ONE row per identity, the first stored copy (smallest
``inserted_at``), checks that the new table holds as many rows as the old one has
identities, swaps the two (EXCHANGE TABLES is atomic) and drops the old one.

Every step is repeatable, so a run interrupted anywhere is finished by running the
migration again. Writers must be stopped while it runs (``make run`` migrates before
serving; in scale mode stop ``consume_events``: Kafka keeps the events meanwhile); the
check refuses to swap when events arrived in the old table during the copy.

Cost: the copy sorts the whole table by ``inserted_at`` (spilling to temporary files
beyond ``max_bytes_before_external_sort``, so it needs free disk of about the table's size
besides the new table) and keeps a hash of every identity in memory (``LIMIT 1 BY``, like
the check's ``uniqExact``: some tens of bytes per event).
"""

from analytics.warehouse.migrator import MigrationContext

NEW = "events_once"
# Frozen here on purpose (not read from schema.py): a migration must do the same thing on
# every installation whatever later migrations change.
ENGINE = (
    "{family}MergeTree({replication}) PARTITION BY toYYYYMM(timestamp) "
    "ORDER BY (project_id, toStartOfHour(timestamp), event) "
    "TTL toDateTime(timestamp) + toIntervalDay(retention_days) "
    "SETTINGS {dedup_window} = 10000, ttl_only_drop_parts = 0"
)
INSERTED_AT_INDEX = "INDEX IF NOT EXISTS idx_inserted_at inserted_at TYPE minmax GRANULARITY 1"
# The first stored copy of each identity. The sort spills to disk beyond 1 GB (servers
# before 24.x do not spill by themselves; later ones would at half of their memory).
ONCE = "ORDER BY inserted_at LIMIT 1 BY project_id, source_id, event_id"
COPY_SETTINGS = "max_bytes_before_external_sort = 1000000000"
REFUSAL = "events arrived during the copy: stop every writer (serve, consume_events) and run clickhouse_migrate again"


def statements(ctx: MigrationContext) -> list[str]:
    database, on_cluster = ctx.database, ctx.on_cluster
    local = "_local" if ctx.cluster else ""
    old, new = f"`{database}`.`events{local}`", f"`{database}`.`{NEW}{local}`"
    drop_new = [f"DROP TABLE IF EXISTS {new}{on_cluster} SYNC"]
    if ctx.cluster:
        drop_new.insert(0, f"DROP TABLE IF EXISTS `{database}`.`{NEW}`{on_cluster} SYNC")
        # A Keeper path of its own ({uuid}: unique per table), so that re-running after the
        # swap never collides with the path the live table now uses.
        engine = ENGINE.format(
            family="Replicated",
            replication=f"'/clickhouse/tables/{{shard}}/{database}/events_local_{{uuid}}', '{{replica}}'",
            dedup_window="replicated_deduplication_window",
        )
        create = [
            f"CREATE TABLE IF NOT EXISTS {new}{on_cluster} AS {old} ENGINE = {engine}",
            f"ALTER TABLE {new}{on_cluster} ADD {INSERTED_AT_INDEX}",
            f"CREATE TABLE IF NOT EXISTS `{database}`.`{NEW}`{on_cluster} AS {new} "
            f"ENGINE = Distributed('{ctx.cluster}', '{database}', '{NEW}{local}', cityHash64(project_id, distinct_id))",
        ]
        # Through the Distributed tables: the same sharding key sends every row back to its
        # shard; synchronously, so the check and the swap never run before the copy landed.
        # The initiator sees every shard's rows, so LIMIT BY keeps one copy cluster-wide.
        copy = (
            f"INSERT INTO `{database}`.`{NEW}` SETTINGS insert_distributed_sync = 1 "
            f"SELECT * FROM `{database}`.`events` {ONCE} SETTINGS {COPY_SETTINGS}"
        )
        check_new, check_old = f"`{database}`.`{NEW}`", f"`{database}`.`events`"
    else:
        engine = ENGINE.format(family="", replication="", dedup_window="non_replicated_deduplication_window")
        create = [
            f"CREATE TABLE IF NOT EXISTS {new} AS {old} ENGINE = {engine}",
            f"ALTER TABLE {new} ADD {INSERTED_AT_INDEX}",
        ]
        copy = f"INSERT INTO {new} SELECT * FROM {old} {ONCE} SETTINGS {COPY_SETTINGS}"
        check_new, check_old = new, old
    check = (
        f"SELECT throwIf((SELECT uniqExact(project_id, source_id, event_id) FROM {check_old}) != "
        f"(SELECT count() FROM {check_new}), '{REFUSAL}')"
    )
    swap = f"EXCHANGE TABLES {old} AND {new}{on_cluster}"
    return [*drop_new, *create, copy, check, swap, *drop_new]
