"""``network_actions``: the five network-action types in a table of their own, sorted by user.

Why: the providers' user detail (``telecom/queries/actions.py``) reads one user's actions
of a range. ``events`` is sorted by hour, so migrations 0006 and 0009 gave it two
projections sorted by user (``by_user``, ``by_user_measures``) and a measures column
computed on insert. Those are written with every inserted event, whatever its type: a raw
insert of web and app events (the consumer's whole load) into a table without them ran
about one and a half to two times as fast, and the consumer fell below its target
(docs/benchmarks/2026-12-03-network-actions.md). The network actions are a small share of
most projects' events; this table holds them alone, so only they pay for a second copy.

What:
- ``network_actions``: MergeTree sorted ``(project_id, distinct_id, timestamp)`` with the
  columns the detail reads (the page's id, source, type, time and properties; the totals'
  three measures, parsed from the properties once here, with the expression the reads
  used: one ``JSONExtract`` into a named tuple, top-level keys only, absent ones NULL).
  Partitions and TTL as ``events`` (month; ``retention_days`` per row).
- ``network_actions_mv``: a materialised view on ``events`` that writes each inserted action of
  the five types. ``events`` holds each event once (migration 0004: copies are dropped
  before they are written, and a block retried with its insert token is dropped by the
  table), and the view's block inherits that token (``deduplicate_blocks_in_dependent_
  materialized_views``, set on the store's inserts), so this table holds each action once too.
- The backfill: the actions already stored that the table does not hold yet (so a rerun
  adds nothing). Stop the writers while it runs, as for 0004.
- ``events`` loses ``by_user``, ``by_user_measures`` and ``action_measures`` (0006, 0009).
  The generic user pages (``aggregation/queries/users.py``) read ``events`` again with the
  ``distinct_id`` bloom filter, newest hours first: a page of a user active lately stops
  early; their totals over the whole history read more (the figures are in the benchmark
  file above).

Deletions: privacy's forget deletes the users' rows here and refills them from the events
that remain (``warehouse/queries/network_actions.py``, like ``action_user_days``);
retention deletes the same expired rows here as in ``events``.

The view is bound to the name ``events``, like ``action_user_days_mv`` (0008): a later
rebuild of ``events`` by copy and swap keeps it. On a cluster the view sits on each shard's
``events_local`` and writes its ``network_actions_local`` (same sharding key as ``events``,
so the backfill through the Distributed table puts each row on its events' shard).
"""

from analytics.warehouse.migrator import MigrationContext

TABLE = "network_actions"
VIEW = "network_actions_mv"
# Frozen here on purpose (not read from telecom): a migration must do the same thing on
# every installation whatever later code changes.
TYPES = "('CALL_OUT', 'CALL_IN', 'SMS_SENT', 'SMS_RECEIVED', 'DATA')"
MEASURES_TYPE = "Tuple(duration_sec Nullable(Float64), bytes_up Nullable(Int64), bytes_down Nullable(Int64))"
KEPT = "project_id, distinct_id, timestamp, event, event_id, source_id, properties, retention_days"
# The tuple is parsed in a subquery: a view's SELECT may output only the target's columns.
ROW = (
    f"SELECT {KEPT}, tupleElement(measures, 'duration_sec') AS duration_sec, "
    "tupleElement(measures, 'bytes_up') AS bytes_up, tupleElement(measures, 'bytes_down') AS bytes_down "
    f"FROM (SELECT {KEPT}, JSONExtract(properties, '{MEASURES_TYPE}') AS measures "
    "FROM {source} WHERE event IN " + TYPES + "{missing})"
)
# GLOBAL on a cluster: the subquery reads a Distributed table inside a distributed read.
MISSING = " AND (project_id, event_id, source_id) {scope}NOT IN (SELECT project_id, event_id, source_id FROM {target})"
DROPPED_PROJECTIONS = ("by_user", "by_user_measures")
DROPPED_COLUMN = "action_measures"


def statements(ctx: MigrationContext) -> list[str]:
    database, on_cluster = ctx.database, ctx.on_cluster
    local = "_local" if ctx.cluster else ""
    table = ctx.create_table(
        TABLE,
        columns=[
            "`project_id` UInt64",
            "`distinct_id` String",
            "`timestamp` DateTime64(3, 'UTC')",
            "`event` LowCardinality(String)",
            "`event_id` UUID",
            "`source_id` LowCardinality(String)",
            "`properties` String",
            "`retention_days` UInt16",
            "`duration_sec` Nullable(Float64)",
            "`bytes_up` Nullable(Int64)",
            "`bytes_down` Nullable(Int64)",
        ],
        engine="MergeTree",
        partition_by="toYYYYMM(timestamp)",
        order_by="(project_id, distinct_id, timestamp)",
        ttl="toDateTime(timestamp) + toIntervalDay(retention_days)",
        settings={"non_replicated_deduplication_window": 10000, "ttl_only_drop_parts": 0},
        sharding_key="cityHash64(project_id, distinct_id)",
    )
    view = (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.`{VIEW}{local}`{on_cluster} "
        f"TO `{database}`.`{TABLE}{local}` AS " + ROW.format(source=f"`{database}`.`events{local}`", missing="")
    )
    backfill = f"INSERT INTO `{database}`.`{TABLE}` ({KEPT}, duration_sec, bytes_up, bytes_down) " + ROW.format(
        source=f"`{database}`.`events`",
        missing=MISSING.format(scope="GLOBAL " if ctx.cluster else "", target=f"`{database}`.`{TABLE}`"),
    )
    if ctx.cluster:
        backfill += " SETTINGS insert_distributed_sync = 1"
    events = f"`{database}`.`events{local}`{on_cluster}"
    drops = [f"ALTER TABLE {events} DROP PROJECTION IF EXISTS {name}" for name in DROPPED_PROJECTIONS]
    drops.append(f"ALTER TABLE {events} DROP COLUMN IF EXISTS {DROPPED_COLUMN}")
    if ctx.cluster:
        drops.append(f"ALTER TABLE `{database}`.`events`{on_cluster} DROP COLUMN IF EXISTS {DROPPED_COLUMN}")
    return [*table, view, backfill, *drops]
