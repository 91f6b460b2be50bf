"""Segment membership as a filter, without the query layer importing ``segments``.

A filter condition ``{"type": "segment", "key": "id", "operator": "in"|"not_in", "value": 12}``
(``eq``/``neq`` are the same) restricts a query to the persons of segment 12. The
``segments`` app sits above this layer, so it registers one resolver from its
``AppConfig.ready``; the compilers call :func:`segment_membership_sql` for the test
``<column> IN <members>``: the name of a loaded ``Set`` table of the members (a
materialised version's, analytics/segments/sets.py) compared with the column it holds
(``person_key``, the events' 64-bit key of the person, or ``person_id``), or ``person_id
IN (<SQL selecting the members' person_id>)``, its parameters added through the compiler's
``Params``. The test reads ``events`` columns: a compiler that applies it to rows of its
own must carry ``person_key`` (``filters.filter_columns`` names it). A segment that does
not exist (deleted, or another project's) raises :class:`SegmentMissing`, a 400 "segment
N no longer exists".

The resolver may answer from a cached lookup, so the set it names may stop being the
current version's before the query runs (a refresh flips versions, the segment is
deleted). Such a set is not dropped at once: the segments app keeps a retired version's
set and rows, and a deleted segment's, for ``SEGMENT_SET_GRACE_SECONDS`` (longer than any
query can take), so the query reads the version it looked up, complete. A set that is
really missing (a restore, dropped by hand) is the store's
:class:`~analytics.warehouse.errors.SegmentSetMissing`, a 503 "retry" that also retires the
cached lookups.
"""

from __future__ import annotations

from typing import Protocol

from analytics.core.errors import ApplicationError
from analytics.query.compiler.params import Params


class SegmentMissing(ApplicationError):
    def __init__(self, segment_id: int) -> None:
        super().__init__(
            f"segment {segment_id} no longer exists",
            extra={"fields": {"segment": [f"segment {segment_id} no longer exists"]}},
        )


class SegmentResolver(Protocol):
    def __call__(self, *, project_id: int, segment_id: int, params: Params) -> tuple[str, str]:
        """(column, a loaded set's name) or ("person_id", ``(<members' SQL>)``), or raise
        SegmentMissing."""
        ...


_resolver: SegmentResolver | None = None


def register_segment_resolver(resolver: SegmentResolver) -> None:
    global _resolver  # one process-wide hook, set once at app start (tests put stand-ins)
    _resolver = resolver


def segment_membership_sql(*, project_id: int, segment_id: int, params: Params, negate: bool = False) -> str:
    """``person_key IN <set>``, ``person_id IN <set>`` or ``person_id IN (<members' SQL>)``
    (``NOT IN`` when ``negate``): whether an event's person is a member."""
    if _resolver is None:
        raise SegmentMissing(segment_id)
    column, members = _resolver(project_id=project_id, segment_id=segment_id, params=params)
    return f"{column} {'NOT IN' if negate else 'IN'} {members}"
