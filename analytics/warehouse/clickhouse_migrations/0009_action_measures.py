"""The network actions' three measures as a typed column, and a narrow projection by user.

Why: the providers' user detail (``telecom/queries/actions.py``) totals a user's actions per
day and type; it read the ``properties`` string of each action and parsed it with
``JSONExtract``. For the heaviest user of the bench (about 108,000 actions in 31 days) that
read and parse were about two thirds of the totals' time
(docs/benchmarks/2026-12-03-telecom-detail.md).

What:
- ``action_measures``: ``Tuple(duration_sec Nullable(Float64), bytes_up Nullable(Int64),
  bytes_down Nullable(Int64))``, ``MATERIALIZED`` from the properties with the very
  expression the reads used (one ``JSONExtract`` into that tuple: top-level keys only, so a
  ``meta`` holding keys of the same names is ignored; absent keys are NULL), for the five
  network-action types; NULLs for every other event. ClickHouse computes it on insert
  (never sent by a writer, left out of ``SELECT *`` and of the backup's dump) and, for parts
  written before this migration, on read from ``properties``: the same values either way.
- ``by_user_measures``: a projection of ``project_id, distinct_id, timestamp, event,
  action_measures`` ordered like ``by_user`` (migration ``0006``). The totals read it (it
  holds their columns and serves their filter); the page still reads ``by_user``, which has
  the wide columns. ``by_user`` itself is left as it is: adding the column to it would mean
  dropping and rebuilding all of it.

Cost: on every insert, one ``JSONExtract`` per network action and one more sorted copy of
five narrow columns (docs/benchmarks/2026-12-03-telecom-detail.md has the figures); on
disk, the column in the table and the projection. Existing parts get the projection from
``MATERIALIZE PROJECTION``, a background mutation (until a part has it, the totals read
that part's properties as before, with the same answers). Rerunning is safe: ``IF NOT
EXISTS``, and materialising again rewrites only the projection. On a cluster the column goes
to the local tables and to the Distributed table (which must list it to read it); the
projection to the local tables only.
"""

from analytics.warehouse.migrator import MigrationContext

COLUMN = "action_measures"
PROJECTION = "by_user_measures"
# Frozen here on purpose (not read from telecom): a migration must do the same thing on
# every installation whatever later code changes.
TYPES = "('CALL_OUT', 'CALL_IN', 'SMS_SENT', 'SMS_RECEIVED', 'DATA')"
MEASURES_TYPE = "Tuple(duration_sec Nullable(Float64), bytes_up Nullable(Int64), bytes_down Nullable(Int64))"
EXPRESSION = (
    f"if(event IN {TYPES}, JSONExtract(properties, '{MEASURES_TYPE}'), CAST((NULL, NULL, NULL), '{MEASURES_TYPE}'))"
)
COLUMNS = f"project_id, distinct_id, timestamp, event, {COLUMN}"
ORDER = "project_id, distinct_id, timestamp"


def statements(ctx: MigrationContext) -> list[str]:
    local = "_local" if ctx.cluster else ""
    table = f"`{ctx.database}`.`events{local}`{ctx.on_cluster}"
    add_column = f"ADD COLUMN IF NOT EXISTS `{COLUMN}` {MEASURES_TYPE} MATERIALIZED {EXPRESSION}"
    out = [f"ALTER TABLE {table} {add_column}"]
    if ctx.cluster:
        out.append(f"ALTER TABLE `{ctx.database}`.`events`{ctx.on_cluster} {add_column}")
    out += [
        f"ALTER TABLE {table} ADD PROJECTION IF NOT EXISTS {PROJECTION} (SELECT {COLUMNS} ORDER BY ({ORDER}))",
        f"ALTER TABLE {table} MATERIALIZE PROJECTION {PROJECTION}",
    ]
    return out
