"""``events.person_key``: a 64-bit hash of ``person_id`` that segment filters read instead.

Why: a report filtered by a materialised segment reads ``person_id IN <loaded set>``. The
events are sorted ``(project_id, hour, event, ...)`` and an hour holds fewer rows than a
granule, so the filter reads the person of every row of the range: 16 bytes of a random
UUID each, hashed and probed in a 128-bit hash set. ``person_key`` is 8 bytes and the set
of member keys half as wide; a filtered trend costs about a third less over the unfiltered
one (docs/benchmarks/2026-12-03-segment-trend.md).

Exactness: a hash is not a person, so a set of keys is used only when no person of the
project outside the segment has a member's key; the set is built with that check, and
holds UUIDs otherwise (analytics/segments/sets.py). The key is therefore only an index:
no answer depends on it being unique.

What: ``MATERIALIZED sipHash64(person_id)``: computed by ClickHouse on every insert
(writers send the same rows as before; ``SELECT *`` leaves it out, so ``CREATE TABLE ...
AS events`` copies and ``INSERT ... SELECT *`` recompute it) and by mutations that change
``person_id``. ``CODEC(NONE)``: the hash of a random UUID does not compress, and reading
it without decompression is the point (the measured difference is in the benchmark file).
Existing parts get it from ``MATERIALIZE COLUMN``, a mutation that runs in the background;
until a part has it, reads compute it from ``person_id``, with the same values.

On a cluster the column is added to the local replicated tables and to the Distributed
table (its schema must name it to read it). Rerunning is safe (``IF NOT EXISTS``).
"""

from analytics.warehouse.migrator import MigrationContext

# Frozen here on purpose (not read from queries): a migration must do the same thing on
# every installation whatever later code changes; analytics/segments/queries.py's
# PERSON_KEY_SQL must stay this expression.
COLUMN = "`person_key` UInt64 MATERIALIZED sipHash64(person_id) CODEC(NONE)"


def statements(ctx: MigrationContext) -> list[str]:
    local = "_local" if ctx.cluster else ""
    table = f"`{ctx.database}`.`events{local}`{ctx.on_cluster}"
    found = [
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {COLUMN}",
        f"ALTER TABLE {table} MATERIALIZE COLUMN person_key",
    ]
    if ctx.cluster:
        found.insert(1, f"ALTER TABLE `{ctx.database}`.`events`{ctx.on_cluster} ADD COLUMN IF NOT EXISTS {COLUMN}")
    return found
