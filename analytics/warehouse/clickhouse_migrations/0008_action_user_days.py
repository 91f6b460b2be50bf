"""Which users had network actions on which UTC days: the exact unique users of ragged ranges.

Why: the providers' global aggregates of a range that is not whole months
(``telecom/composed.py``) add counts and measures up from rollups, but unique users cannot be
added up, and the rollups keep counts, not sets. Their unique users came from one raw read
of ``distinct_id`` over the partial months (2.7M actions in the bench's range, most of the
answer's time). This table keeps the set instead: one row per (project, UTC month, action
type, user) with a bit per UTC day of the month on which the user had such an action. The
users of any whole UTC days of a month are the rows whose mask meets those days' bits; only
the edges of a range (less than a UTC day at each end) are read raw.

What:
- ``action_user_days``: AggregatingMergeTree ordered ``(project_id, month, event,
  user_hash)``; ``user_hash`` is the SipHash-128 of ``distinct_id`` as UInt128 (the figure
  and guarantee of every ``unique_users`` of the product), ``days`` is
  ``groupBitOr`` of ``1 << (day of month - 1)``. Rows of one user in several parts are folded
  on merge; reads never rely on that (they count distinct ``user_hash``).
- ``action_user_days_mv``: a materialised view on ``events`` that writes a row for each
  inserted action of the five network types (folded by the table). A set is idempotent (a bit set twice is
  the same bit), so an insert seen twice, or the backfill below overlapping inserts made
  while it runs, change nothing.
- The backfill: the same rows from the events already stored (rerunning it is harmless).
- Retention: a TTL drops a month's rows ``retention_days`` (the largest of its events) after
  the month ends. Deletions of single users (privacy's forget) rebuild that user's rows
  from the remaining events (``warehouse/queries/action_user_days.py``).

The view is bound to the name ``events`` (checked on chDB: after ``EXCHANGE TABLES`` it
fires for inserts into the table that has the name now), so a later rebuild of ``events``
by copy and swap (like 0003 and 0004) keeps it: the copy goes to the other name and its
rows are here already. A rebuild that drops or changes ``distinct_id``, ``event`` or
``timestamp`` must recreate it.

On a cluster the view sits on each shard's ``events_local`` and writes its
``action_user_days_local`` (a user's events are on one shard, so are their rows); the backfill
goes through the Distributed tables.
"""

from analytics.warehouse.migrator import MigrationContext

TABLE = "action_user_days"
VIEW = "action_user_days_mv"
# Frozen here on purpose (not read from telecom): a migration must do the same thing on
# every installation whatever later code changes.
TYPES = "('CALL_OUT', 'CALL_IN', 'SMS_SENT', 'SMS_RECEIVED', 'DATA')"
# The view writes one row per action and leaves the folding to the table: an insert block is
# folded as it is written (optimize_on_insert) and parts on merge. A GROUP BY in the view cost
# more CPU per inserted block than that sort (docs/benchmarks/2026-12-03-ragged-month.md).
ROW = (
    "SELECT project_id, toStartOfMonth(timestamp, 'UTC') AS month, event, "
    "reinterpretAsUInt128(sipHash128(distinct_id)) AS user_hash, "
    "bitShiftLeft(toUInt32(1), toDayOfMonth(timestamp, 'UTC') - 1) AS days, retention_days "
    "FROM {source} WHERE event IN " + TYPES
)
# The backfill folds first: one row per (project, month, type, user) written.
FOLDED = (
    "SELECT project_id, toStartOfMonth(timestamp, 'UTC') AS month, event, "
    "reinterpretAsUInt128(sipHash128(distinct_id)) AS user_hash, "
    "groupBitOr(bitShiftLeft(toUInt32(1), toDayOfMonth(timestamp, 'UTC') - 1)) AS days, "
    "max(retention_days) AS retention_days "
    "FROM {source} WHERE event IN " + TYPES + " GROUP BY project_id, month, event, user_hash"
)


def statements(ctx: MigrationContext) -> list[str]:
    database, on_cluster = ctx.database, ctx.on_cluster
    local = "_local" if ctx.cluster else ""
    table = ctx.create_table(
        TABLE,
        columns=[
            "`project_id` UInt64",
            "`month` Date",
            "`event` LowCardinality(String)",
            "`user_hash` UInt128",
            "`days` SimpleAggregateFunction(groupBitOr, UInt32)",
            "`retention_days` SimpleAggregateFunction(max, UInt16)",
        ],
        engine="AggregatingMergeTree",
        partition_by="toYYYYMM(month)",
        order_by="(project_id, month, event, user_hash)",
        ttl="month + toIntervalMonth(1) + toIntervalDay(retention_days)",
        sharding_key="cityHash64(project_id, user_hash)",
    )
    view = (
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS `{database}`.`{VIEW}{local}`{on_cluster} "
        f"TO `{database}`.`{TABLE}{local}` AS " + ROW.format(source=f"`{database}`.`events{local}`")
    )
    backfill = f"INSERT INTO `{database}`.`{TABLE}` " + FOLDED.format(source=f"`{database}`.`events`")
    if ctx.cluster:
        backfill += " SETTINGS insert_distributed_sync = 1"
    return [*table, view, backfill]
