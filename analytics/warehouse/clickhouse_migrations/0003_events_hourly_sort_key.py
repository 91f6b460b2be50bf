"""Rebuild the events table sorted by hour instead of day: (project_id, hour, event, event_id).

Why: every read of events uses FINAL, and ClickHouse cannot move a ``timestamp`` filter
before FINAL, so a query over the last minutes reads every row of the sort key's first
time component that it touches. With the day there, the aggregation's 1-minute stream read
the whole day so far on every run, a cost that grows with the day (the figures are in
docs/benchmarks/2026-11-24-event-store.md). With the hour, a run reads at most the hour
it is in.

De-duplication: copies of an event that carry the same event time (Kafka redelivery, a
replay, a client's resend of its own timestamp) share the hour and collapse as before. An
event without a client timestamp is stamped with its receive time, so its resend collapses
only if it lands in the same hour (it was the same day); docs/event-store.md. The month
partition is still a function of the key, so copies never cross partitions.

How: create a table with the old one's columns and indexes (``CREATE TABLE ... AS events``,
so this migration copies whatever columns the table has when it runs) and the new key,
copy, check that every event id arrived, swap the two (EXCHANGE TABLES is atomic), drop the
old one. Every step is repeatable, so a run interrupted anywhere is finished by running the
migration again. Writers must be stopped while it runs (``make run`` migrates before
serving; in scale mode stop ``consume_events``: Kafka keeps the events meanwhile); the
check refuses to swap when events arrived in the old table during the copy.
"""

from analytics.warehouse.migrator import MigrationContext

# Checksums of earlier texts of this file that differ only in comments (applied stores
# recorded them; the statements are the same, so the migrator does not warn about them).
ACCEPTED_CHECKSUMS = ("f0b22922c1c0de30",)

NEW = "events_rekeyed"
# Frozen here on purpose (not read from schema.py): a migration must do the same thing on
# every installation whatever later migrations change.
ENGINE = (
    "ReplacingMergeTree({replication}inserted_at) PARTITION BY toYYYYMM(timestamp) "
    "ORDER BY (project_id, toStartOfHour(timestamp), event, event_id) "
    "TTL toDateTime(timestamp) + toIntervalDay(retention_days) "
    "SETTINGS {dedup_window} = 10000, ttl_only_drop_parts = 0"
)


def statements(ctx: MigrationContext) -> list[str]:
    database, on_cluster = ctx.database, ctx.on_cluster
    local = "_local" if ctx.cluster else ""
    old, new = f"`{database}`.`events{local}`", f"`{database}`.`{NEW}{local}`"
    drop_new = [f"DROP TABLE IF EXISTS {new}{on_cluster} SYNC"]
    if ctx.cluster:
        drop_new.insert(0, f"DROP TABLE IF EXISTS `{database}`.`{NEW}`{on_cluster} SYNC")
        # A Keeper path of its own ({uuid}: unique per table), so that re-running after the
        # swap never collides with the path the live table now uses.
        engine = "Replicated" + ENGINE.format(
            replication=f"'/clickhouse/tables/{{shard}}/{database}/events_local_{{uuid}}', '{{replica}}', ",
            dedup_window="replicated_deduplication_window",
        )
        create = [
            f"CREATE TABLE IF NOT EXISTS {new}{on_cluster} AS {old} ENGINE = {engine}",
            f"CREATE TABLE IF NOT EXISTS `{database}`.`{NEW}`{on_cluster} AS {new} "
            f"ENGINE = Distributed('{ctx.cluster}', '{database}', '{NEW}{local}', cityHash64(project_id, distinct_id))",
        ]
        # Through the Distributed tables: the same sharding key sends every row back to its
        # shard; synchronously, so the check and the swap never run before the copy landed.
        copy = (
            f"INSERT INTO `{database}`.`{NEW}` SETTINGS insert_distributed_sync = 1 SELECT * FROM `{database}`.`events`"
        )
        check_new, check_old = f"`{database}`.`{NEW}`", f"`{database}`.`events`"
    else:
        engine = ENGINE.format(replication="", dedup_window="non_replicated_deduplication_window")
        create = [f"CREATE TABLE IF NOT EXISTS {new} AS {old} ENGINE = {engine}"]
        copy = f"INSERT INTO {new} SELECT * FROM {old}"
        check_new, check_old = new, old
    # Copies of one event may collapse during the copy, so compare distinct ids, not rows.
    check = (
        f"SELECT throwIf((SELECT uniqExact(project_id, event_id) FROM {check_old}) != "
        f"(SELECT uniqExact(project_id, event_id) FROM {check_new}), "
        "'events arrived during the copy: stop every writer (serve, consume_events) and run "
        "clickhouse_migrate again')"
    )
    swap = f"EXCHANGE TABLES {old} AND {new}{on_cluster}"
    return [*drop_new, *create, copy, check, swap, *drop_new]
