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

The resolver may answer from a cached lookup, and even a fresh one can be overtaken: the
set it names may be dropped (a refresh moved two versions on, a delete, a set dropped by
hand) before the query runs, and ClickHouse then answers "unknown identifier/table". The report runners are
wrapped in :func:`retry_on_dropped_segment_set`: such a query runs once more with every
segment looked up afresh (``fresh=True``), which names the current version's set, falls
back to the subquery, or raises SegmentMissing when the segment is gone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextvars import ContextVar
from typing import ParamSpec, Protocol, TypeVar

from analytics.core.errors import ApplicationError
from analytics.core.logging import get_logger
from analytics.query.compiler.params import Params
from analytics.warehouse.errors import StoreQueryError
from analytics.warehouse.guard import SEGMENT_SET_PREFIX
from analytics.warehouse.transports.common import error_code

log = get_logger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# ``person_id IN <name>`` of a table that is gone: UNKNOWN_IDENTIFIER with the analyzer
# (ClickHouse 24.3+, chDB), UNKNOWN_TABLE without it.
_UNKNOWN_IDENTIFIER, _UNKNOWN_TABLE = 47, 60


class SegmentMissing(ApplicationError):
    def __init__(self, segment_id: int) -> None:
        super().__init__(
            f"segment {segment_id} no longer exists",
            extra={"fields": {"segment": [f"segment {segment_id} no longer exists"]}},
        )


class SegmentResolver(Protocol):
    def __call__(self, *, project_id: int, segment_id: int, params: Params, fresh: bool) -> tuple[str, str]:
        """(column, a loaded set's name) or ("person_id", ``(<members' SQL>)``), or raise
        SegmentMissing. ``fresh``: look the segment up again instead of trusting a cached
        lookup."""
        ...


_resolver: SegmentResolver | None = None
# Set while a report runs again after a dropped set: every lookup of that run is fresh.
_fresh_lookups: ContextVar[bool] = ContextVar("segment_fresh_lookups", default=False)


def register_segment_resolver(resolver: SegmentResolver) -> None:
    global _resolver  # one process-wide hook, set once at app start (tests put stand-ins)
    _resolver = resolver


def segment_membership_sql(*, project_id: int, segment_id: int, params: Params, negate: bool = False) -> str:
    """``person_key IN <set>``, ``person_id IN <set>`` or ``person_id IN (<members' SQL>)``
    (``NOT IN`` when ``negate``): whether an event's person is a member."""
    if _resolver is None:
        raise SegmentMissing(segment_id)
    column, members = _resolver(project_id=project_id, segment_id=segment_id, params=params, fresh=_fresh_lookups.get())
    return f"{column} {'NOT IN' if negate else 'IN'} {members}"


def dropped_segment_set(error: BaseException) -> bool:
    """Whether ClickHouse refused a query because a segment set it names is gone."""
    return (
        isinstance(error, StoreQueryError)
        and error_code(error) in (_UNKNOWN_IDENTIFIER, _UNKNOWN_TABLE)
        and SEGMENT_SET_PREFIX in str(error).lower()
    )


def retry_on_dropped_segment_set(run: Callable[P, R]) -> Callable[P, R]:
    """Run a report; if a segment set it read was dropped meanwhile, run it once more with
    fresh lookups (a second failure is raised). Reports are reads, so running again is safe."""

    @functools.wraps(run)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if _fresh_lookups.get():  # a runner called by a runner that is already retrying
            return run(*args, **kwargs)
        try:
            return run(*args, **kwargs)
        except StoreQueryError as error:
            if not dropped_segment_set(error):
                raise
            log.info("segments.set_dropped_retry", runner=run.__name__, error=str(error)[:300])
        token = _fresh_lookups.set(True)
        try:
            return run(*args, **kwargs)
        finally:
            _fresh_lookups.reset(token)

    return wrapper
