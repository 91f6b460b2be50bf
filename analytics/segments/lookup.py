"""One cached lookup per segment filter: is the segment there, which version, is its set loaded.

A report filtered by a segment needs, before its SQL can be written, the segment's kind
(static or dynamic), its materialised version and whether that version's ``Set`` table
exists, with the column it holds (analytics/segments/sets.py). Read every time, that is a
PostgreSQL query and a ``system.columns`` round trip to ClickHouse per filtered query; this
module reads them once and keeps the answer in process memory.

An entry is valid only under the project's **segments version**
(``analytics.warehouse.data_version.segments_version``, one cache read per lookup), which
the segment services bump whenever a version flips, a segment goes back to query time or is
deleted, its definition changes or a person is forgotten (``services._members_changed``).
The version is read *before* the segment row, and services bump it *after* their change, so
an entry stored under a version can only be older than that version's changes if the
change had not committed yet when it was read: the same as reading the row a moment
earlier. What no cache key can cover, a query on its way with a lookup taken just before
a flip or a delete, is covered by the grace period: the version it named, set and rows,
stays ``SEGMENT_SET_GRACE_SECONDS`` after it is retired (``services.retired_drop``). A
set missing for another reason (a restore, dropped by hand) fails the query with the
store's SegmentSetMissing (a 503), which bumps the segments version: the next lookup is
read afresh and checks the set again. ``fresh=True`` reads past the cache (the bench
stage uses it).

Tenant safety: entries are keyed by (project id, segment id), the row is read filtered by
the query's project, the set name is built from the query's project id, and the tenant
guard refuses any set name of another project. A missing segment is never cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from analytics.query.membership import SegmentMissing
from analytics.segments import queries
from analytics.segments.models import Segment
from analytics.segments.sets import sets_enabled
from analytics.warehouse.data_version import segments_version
from analytics.warehouse.store import EventStore, get_store

# Entries are small; past this many the whole map is dropped (lookups are cheap to redo).
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class SegmentLookup:
    """What a segment filter needs to know; ``set_name`` only when that set exists."""

    project_id: int
    segment_id: int
    is_static: bool
    version: int | None  # the materialised version; None: static or computed at query time
    set_name: str | None
    set_column: str | None = None  # what the set holds: "person_key" or "person_id" (sets.py)


_entries: dict[tuple[int, int], tuple[str, SegmentLookup]] = {}
_lock = threading.Lock()


def segment_lookup(
    *, project_id: int, segment_id: int, store: EventStore | None = None, fresh: bool = False
) -> SegmentLookup:
    """The segment's lookup, cached under the project's segments version; ``fresh`` reads it
    again (and stores that). Raises SegmentMissing when the project has no such segment."""
    store = store or get_store()
    key = (int(project_id), int(segment_id))
    token = segments_version(project_id)  # before the row: see the module docstring
    if not fresh:
        cached = _entries.get(key)
        if cached is not None and cached[0] == token:
            return _for_store(cached[1], store)
    found = _read(project_id=key[0], segment_id=key[1], store=store)
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key] = (token, found)
    return _for_store(found, store)


def _read(*, project_id: int, segment_id: int, store: EventStore) -> SegmentLookup:
    row = (
        Segment.objects.filter(project_id=project_id, id=segment_id).values_list("is_static", "members_version").first()
    )
    if row is None:
        raise SegmentMissing(segment_id)
    is_static, version = row
    name = column = None
    if not is_static and version is not None and sets_enabled(store):
        candidate = queries.set_name(project_id=project_id, segment_id=segment_id, version=version)
        found = store.query(queries.set_column_query(project_id=project_id, name=candidate)).rows()
        if found:
            name, column = candidate, str(found[0][0])
    return SegmentLookup(
        project_id=project_id,
        segment_id=segment_id,
        is_static=bool(is_static),
        version=version,
        set_name=name,
        set_column=column,
    )


def _for_store(found: SegmentLookup, store: EventStore) -> SegmentLookup:
    """Without the set when this store cannot use sets (a cluster: sets live on one server)."""
    if found.set_name is not None and not sets_enabled(store):
        return SegmentLookup(found.project_id, found.segment_id, found.is_static, found.version, None, None)
    return found
