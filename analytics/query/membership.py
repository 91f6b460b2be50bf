"""Segment membership as a filter, without the query layer importing ``segments``.

A filter condition ``{"type": "segment", "key": "id", "operator": "in"|"not_in", "value": 12}``
(``eq``/``neq`` are the same) restricts a query to the persons of segment 12. The
``segments`` app sits above this layer, so it registers a resolver from its
``AppConfig.ready``; the filter compiler calls it to get a SQL subquery that selects the
member ``person_id`` values (a UUID column) of one segment in one project, its parameters
added through the compiler's ``Params``. A segment that does not exist (deleted, or
another project's) raises :class:`SegmentMissing`, a 400 "segment N no longer exists".

A materialised segment may also have its members loaded in a ``Set``-engine table (the
segments app registers a second hook, :func:`register_segment_set_resolver`);
:func:`segment_members_in` gives the right-hand side of ``person_id IN``: that table's
name when there is one, else the subquery. The set is built once per materialised version,
so a report does not rebuild the members' hash set on every query.
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
    def __call__(self, *, project_id: int, segment_id: int, params: Params) -> str:
        """SQL ``SELECT person_id FROM ...`` of the members, or raise SegmentMissing."""
        ...


class SegmentSetResolver(Protocol):
    def __call__(self, *, project_id: int, segment_id: int) -> str | None:
        """The name of a loaded set of the members, or None (then the subquery is used)."""
        ...


_resolver: SegmentResolver | None = None
# (the members resolver it goes with, the set hook): a stand-in resolver put in its place
# (tests) turns the sets off until the real one is back.
_set_resolver: tuple[SegmentResolver, SegmentSetResolver] | None = None


def register_segment_resolver(resolver: SegmentResolver) -> None:
    global _resolver  # one process-wide hook, set once at app start
    _resolver = resolver


def register_segment_set_resolver(members: SegmentResolver, resolver: SegmentSetResolver) -> None:
    """The loaded-set hook, used while ``members`` is the registered members resolver."""
    global _set_resolver  # one process-wide hook, set once at app start
    _set_resolver = (members, resolver)


def segment_members_sql(*, project_id: int, segment_id: int, params: Params) -> str:
    if _resolver is None:
        raise SegmentMissing(segment_id)
    return _resolver(project_id=project_id, segment_id=segment_id, params=params)


def segment_members_in(*, project_id: int, segment_id: int, params: Params) -> str:
    """The right-hand side of ``person_id IN``: a loaded set's name, or ``(<members' SQL>)``."""
    if _set_resolver is not None and _set_resolver[0] is _resolver:
        name = _set_resolver[1](project_id=project_id, segment_id=segment_id)
        if name is not None:
            return name
    return f"({segment_members_sql(project_id=project_id, segment_id=segment_id, params=params)})"
