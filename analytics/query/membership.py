"""Segment membership as a filter, without the query layer importing ``segments``.

A filter condition ``{"type": "segment", "key": "id", "operator": "in"|"not_in", "value": 12}``
(``eq``/``neq`` are the same) restricts a query to the persons of segment 12. The
``segments`` app sits above this layer, so it registers a resolver from its
``AppConfig.ready``; the filter compiler calls it to get a SQL subquery that selects the
member ``person_id`` values (a UUID column) of one segment in one project, its parameters
added through the compiler's ``Params``. A segment that does not exist (deleted, or
another project's) raises :class:`SegmentMissing`, a 400 "segment N no longer exists".
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


_resolver: SegmentResolver | None = None


def register_segment_resolver(resolver: SegmentResolver) -> None:
    global _resolver  # one process-wide hook, set once at app start
    _resolver = resolver


def segment_members_sql(*, project_id: int, segment_id: int, params: Params) -> str:
    if _resolver is None:
        raise SegmentMissing(segment_id)
    return _resolver(project_id=project_id, segment_id=segment_id, params=params)
