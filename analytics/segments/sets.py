"""Loaded sets: a materialised version's members kept in a ClickHouse ``Set``-engine table.

A report filtered by a materialised segment reads ``person_id IN segment_set_<project>_
<segment>_<version>`` instead of ``person_id IN (SELECT person_id FROM segment_members
...)``: the subquery makes ClickHouse read the version's rows and build their hash set on
every query; the ``Set`` table is that hash set, built once per version and kept in memory
(and on disk, so it is loaded again when the server or chDB restarts).

Life of a set, beside its version's rows (``services.segment_materialise``):

- built after the version's rows are written and *before* the segment row flips to that
  version; readers take the version from the segment row, so they never see a set that
  is still being filled;
- retired with the version's rows when the version stops being current (or the segment
  is deleted), and dropped with them ``SEGMENT_SET_GRACE_SECONDS`` later by the clean-up
  task (``services.retired_drop``): longer than any query can take, so a query that
  named the set just before the flip or delete still finds it;
- rebuilt from the rows when a person is forgotten (a ``Set`` has no DELETE): a new set is
  filled beside it and swapped in with ``EXCHANGE TABLES``, so the name never goes missing;
- missing (a backup restored without it, a failed build, dropped by hand): the segment
  lookup (``lookup.py``) checks that it exists and falls back to the subquery; a query that
  named it from a cached lookup is answered 503 "retry" by the store
  (``analytics.warehouse.errors.SegmentSetMissing``), which also retires the project's
  cached lookups, so the next attempt reads the rows; the next refresh builds a new version
  with its set.

Keys or UUIDs: a set holds the members' ``events.person_key`` (a 64-bit hash of the
person, migration 0010), half as wide to read and probe as ``person_id``, when no event
of the project belongs to a non-member whose key is a member's (checked over every event
of the project when the set is filled, ``queries.key_collision_query``); otherwise it holds
their UUIDs. The set's column says which, and the filter compares that column
(``person_key IN <set>`` or ``person_id IN <set>``). A person first seen after the check is
checked at the next refresh; until then a collision needs one of the members' 64-bit keys
(a chance of members / 2^64 per new person), and the version's members are as stale as
anything else materialised.

Tenant safety: a set holds the members of one segment of one project (filled from
``segment_members`` with ``project_id = {project_id:UInt64}``), its name carries the
project, the lookup builds it from the segment row read for the query's project, and the
tenant guard refuses a set whose name names another project than the query's
``project_id`` (analytics/warehouse/guard.py).

Cluster mode: a ``Set`` table lives on one server, and a Distributed query would need it
on every shard, so with ``CLICKHOUSE_CLUSTER`` no set is built and the filter keeps the
subquery.
"""

from __future__ import annotations

from analytics.core.logging import get_logger
from analytics.segments import queries
from analytics.segments.models import Segment
from analytics.warehouse.store import EventStore

log = get_logger(__name__)


def sets_enabled(store: EventStore) -> bool:
    """Sets are per server: single-node stores only (embedded chDB, one ClickHouse)."""
    return store.cluster is None


def _fill(store: EventStore, name: str, project_id: int, segment_id: int, version: int) -> str:
    """Create and fill set ``name`` (absent) with a version's members: their keys when no
    other person of the project has a member's key, else their UUIDs. Returns its column."""
    store.command(queries.create_set_statement(name, "person_key"))
    store.execute(queries.fill_set_statement(name=name, project_id=project_id, segment_id=segment_id, version=version))
    collided = queries.key_collision_query(name=name, project_id=project_id, segment_id=segment_id, version=version)
    if not store.query(collided).scalar():
        return "person_key"
    log.warning("segments.set_key_collision", project_id=project_id, segment_id=segment_id, version=version)
    store.command(queries.drop_set_statement(name))
    store.command(queries.create_set_statement(name, "person_id"))
    store.execute(
        queries.fill_set_statement(
            name=name, project_id=project_id, segment_id=segment_id, version=version, column="person_id"
        )
    )
    return "person_id"


def set_build(store: EventStore, segment: Segment, version: int) -> None:
    """Fill the set of one written version (not yet current). A failure drops the partial
    set and is logged: readers then use the subquery, which is exact too."""
    if not sets_enabled(store):
        return
    name = queries.set_name(project_id=segment.project_id, segment_id=segment.id, version=version)
    try:
        store.command(queries.drop_set_statement(name))  # a leftover of a failed attempt
        _fill(store, name, segment.project_id, segment.id, version)
    except Exception as error:
        log.warning("segments.set_build_failed", segment_id=segment.id, version=version, error=str(error)[:300])
        store.command(queries.drop_set_statement(name))


def _set_versions(store: EventStore, project_id: int, segment_id: int | None = None) -> list[tuple[str, int, int]]:
    """(name, segment id, version) of the project's sets and leftover rebuilds."""
    rows = store.query(queries.sets_query(project_id=project_id, segment_id=segment_id)).rows()
    found = []
    for (name,) in rows:
        *_, segment, version = str(name).rsplit("_", 2)
        found.append((str(name), int(segment), int(version)))
    return found


def sets_drop(
    store: EventStore, segment: Segment | int, project_id: int, below: int | None = None, keep: int | None = None
) -> None:
    """Drop a segment's sets of versions below ``below`` (None: every one) but ``keep``."""
    segment_id = segment if isinstance(segment, int) else segment.id
    for name, _, version in _set_versions(store, project_id, segment_id):
        if (below is None or version < below) and version != keep:
            store.command(queries.drop_set_statement(name))


def sets_exist(store: EventStore, project_id: int, segment_id: int) -> bool:
    """Whether any set (or leftover rebuild) of the segment is loaded."""
    return bool(_set_versions(store, project_id, segment_id))


def sets_rebuild(store: EventStore, project_id: int) -> int:
    """Rebuild every set of the project from its version's rows (after rows were deleted);
    each is swapped in whole. Returns the sets rebuilt."""
    rebuilt = 0
    for name, segment_id, version in _set_versions(store, project_id):
        if name.startswith(queries.SET_REBUILD_PREFIX):
            store.command(queries.drop_set_statement(name))  # a leftover of a failed rebuild
            continue
        spare = queries.rebuild_name(name)
        store.command(queries.drop_set_statement(spare))
        try:
            _fill(store, spare, project_id, segment_id, version)
            store.command(queries.exchange_statement(name, spare))
        except Exception:
            store.command(queries.drop_set_statement(spare))
            if store.query(queries.set_exists_query(project_id=project_id, name=name)).scalar():
                raise
            continue  # a refresh's clean-up dropped it meanwhile: nothing left to rebuild
        store.command(queries.drop_set_statement(spare))
        rebuilt += 1
    return rebuilt
