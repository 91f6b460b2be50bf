"""A projection of events sorted by user: one user's events are a contiguous range.

Why: ``events`` is sorted ``(project_id, toStartOfHour(timestamp), event)``, so the events
of one ``distinct_id`` are spread over every granule of a time range. The per-user reads
(the telecom providers' detail, ``analytics/telecom/queries/actions.py``; the user pages
and the project-scoped detail, ``aggregation/queries/users.py``; a person's last event,
``dashboards/queries/users.py``) then read, or at best bloom-filter, every granule of the
range, and a frequent user appears in all of them, so the ``distinct_id`` bloom filter
skips nothing for exactly the users with the most to read. Compared on the same events
(docs/benchmarks/2026-12-03-telecom.md): a finer bloom filter (granularity 1),
an explicit PREWHERE on ``distinct_id`` (slower: it reads that column over the whole
range), and this projection; only the projection reads in proportion to the user's own
events.

What: ``by_user``, the columns those reads use, ordered ``(project_id, distinct_id,
timestamp)``. ClickHouse keeps it inside each part, written with the part, merged with it
and rebuilt by the ``ALTER ... DELETE`` mutations (retention, forget); a query whose
columns it holds and whose filter it serves better is answered from it without any change
to the SQL. Not
``SELECT *``: the hot typed columns no per-user read uses would double the write for
nothing. Cost: a second sorted copy of these columns on every insert (measured with the
``insert`` bench stage: the store's scratch tables are created ``AS events`` and carry it)
and on disk.

Existing parts get it from ``MATERIALIZE PROJECTION``, a mutation that runs in the
background (asynchronous: the migration does not wait for a whole table to be rewritten);
until a part has it, reads of that part use the table's own order, with the same answers.
Rerunning is safe: ``IF NOT EXISTS``, and materialising again rewrites only the projection.
On a cluster both statements go to the local replicated tables (``ON CLUSTER``); the
Distributed table has no storage and needs nothing.
"""

from analytics.warehouse.migrator import MigrationContext

NAME = "by_user"
# Frozen here on purpose (not read from schema.py): a migration must do the same thing on
# every installation whatever later migrations change.
COLUMNS = "project_id, distinct_id, timestamp, event, event_id, source_id, properties, revenue, session_id, person_id"
ORDER = "project_id, distinct_id, timestamp"


def statements(ctx: MigrationContext) -> list[str]:
    local = "_local" if ctx.cluster else ""
    table = f"`{ctx.database}`.`events{local}`{ctx.on_cluster}"
    return [
        f"ALTER TABLE {table} ADD PROJECTION IF NOT EXISTS {NAME} (SELECT {COLUMNS} ORDER BY ({ORDER}))",
        f"ALTER TABLE {table} MATERIALIZE PROJECTION {NAME}",
    ]
