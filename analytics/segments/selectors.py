"""Reads: segments of a project, their members' SQL (the resolver), sizes and member pages."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from django.db.models import QuerySet

from analytics.accounts.models import Project
from analytics.core.errors import ApplicationError, NotFound
from analytics.core.timeutils import utc_now
from analytics.query.compiler.params import Params
from analytics.query.membership import SegmentMissing
from analytics.segments import queries
from analytics.segments.compiler import compile_members
from analytics.segments.lookup import segment_lookup
from analytics.segments.models import Segment, SegmentSize
from analytics.warehouse.store import EventStore, get_store

MAX_PAGE = 1000


class SegmentCycle(ApplicationError):
    def __init__(self, segment_id: int) -> None:
        message = f"segment {segment_id} refers to itself through other segments"
        super().__init__(message, extra={"fields": {"segment": [message]}})


def segment_list(*, project: Project) -> QuerySet[Segment]:
    return Segment.objects.filter(project=project).order_by("-created_at", "-id")


def segment_get(*, project: Project, segment_id: int | str) -> Segment:
    try:
        return Segment.objects.select_related("project").get(project=project, id=int(segment_id))
    except (Segment.DoesNotExist, ValueError):
        raise NotFound(f"segment {segment_id} not found") from None


def members_sql(
    *,
    project_id: int,
    segment_id: int,
    params: Params,
    now: datetime | None = None,
    visiting: frozenset[int] = frozenset(),
    force_query_time: bool = False,
    as_of: bool = False,
) -> str:
    """SQL selecting the members' ``person_id`` of one segment of one project.

    Static: its imported ids; materialised (and not ``force_query_time``): the current
    version of its membership table; otherwise the definition compiled now. ``as_of``:
    the members at ``now`` in the past (``compile_members``), nested segments too (their
    materialised table holds today's members, so they are compiled as well). A segment
    missing from the project raises SegmentMissing; a cycle (refused when saved, but
    segments may be edited in the admin) raises SegmentCycle.
    """
    if segment_id in visiting:
        raise SegmentCycle(segment_id)
    segment = Segment.objects.select_related("project").filter(project_id=project_id, id=segment_id).first()
    if segment is None:
        raise SegmentMissing(segment_id)
    if segment.is_static:
        return queries.static_members_sql(segment_id=segment.id, params=params)
    if segment.members_version is not None and not (force_query_time or as_of):
        return queries.materialised_members_sql(segment_id=segment.id, version=segment.members_version, params=params)
    moment = now or utc_now()
    inner = visiting | {segment_id}

    def nested(other_id: int, nested_params: Params) -> str:
        return members_sql(
            project_id=project_id, segment_id=other_id, params=nested_params, now=moment, visiting=inner, as_of=as_of
        )

    return compile_members(
        segment.definition or {"op": "and", "conditions": []},
        params=params,
        now=moment,
        time_zone=segment.project.timezone,
        segment_sql=nested,
        as_of=as_of,
    )


def resolve_segment(*, project_id: int, segment_id: int, params: Params) -> tuple[str, str]:
    """(column, right-hand side of ``<column> IN``) for a segment filter: the loaded set of
    its materialised version with the column it holds (``person_key`` or ``person_id``),
    else ``person_id`` and ``(<members' SQL>)``; the resolver registered with
    ``analytics.query.membership`` (SegmentsConfig.ready). Static and materialised segments
    need only the cached lookup (``lookup.py``); one computed at query time reads its
    definition."""
    found = segment_lookup(project_id=project_id, segment_id=segment_id)
    if found.set_name is not None:
        return found.set_column or "person_id", found.set_name
    if found.is_static:
        return "person_id", f"({queries.static_members_sql(segment_id=segment_id, params=params)})"
    if found.version is not None:
        members = queries.materialised_members_sql(segment_id=segment_id, version=found.version, params=params)
        return "person_id", f"({members})"
    return "person_id", f"({members_sql(project_id=project_id, segment_id=segment_id, params=params)})"


def segment_size_compute(
    *,
    segment: Segment,
    store: EventStore | None = None,
    now: datetime | None = None,
    force_query_time: bool = False,
    as_of: bool = False,
) -> int:
    params = Params(project_id=segment.project_id)
    sql = members_sql(
        project_id=segment.project_id,
        segment_id=segment.id,
        params=params,
        now=now,
        force_query_time=force_query_time,
        as_of=as_of,
    )
    return int((store or get_store()).query(queries.size_query(sql, params)).scalar() or 0)


def segment_size(*, segment: Segment, store: EventStore | None = None) -> dict[str, Any]:
    """``{"size", "computed_at", "materialised"}``: a materialised segment's stored size and
    when it was computed; otherwise counted now."""
    if segment.is_materialised and segment.size is not None:
        return {"size": segment.size, "computed_at": segment.materialised_at, "materialised": True}
    computed_at = utc_now()
    size = segment_size_compute(segment=segment, store=store, now=computed_at)
    return {"size": size, "computed_at": computed_at, "materialised": False}


HISTORY_DAYS = 90


def history_days(today: date, days: int = HISTORY_DAYS) -> list[date]:
    """The days of the size history, oldest first, ``today`` (UTC) last."""
    return [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def segment_size_history(*, segment: Segment, days: int = HISTORY_DAYS, today: date | None = None) -> dict[str, Any]:
    """``{"points": [{"day", "size", "backfilled"}], "missing_days"}``: one point per day of
    the last ``days`` (UTC): the size recorded that day by a refresh, or back-filled as of
    the day's end (``backfilled``), or null while the back-fill has not reached it
    (``missing_days`` counts those; a static segment has no back-fill)."""
    wanted = history_days(today or utc_now().date(), days)
    recorded = {
        row.day: row for row in SegmentSize.objects.filter(segment=segment, day__gte=wanted[0], day__lte=wanted[-1])
    }
    points = [
        {
            "day": day.isoformat(),
            "size": recorded[day].size if day in recorded else None,
            "backfilled": recorded[day].backfilled if day in recorded else False,
        }
        for day in wanted
    ]
    missing = 0 if segment.is_static else sum(1 for day in wanted[:-1] if day not in recorded)
    return {"points": points, "missing_days": missing}


def encode_cursor(person_id: str) -> str:
    return base64.urlsafe_b64encode(person_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApplicationError("invalid cursor", extra={"fields": {"cursor": ["invalid cursor"]}}) from None
    if len(text) != 36 or text.count("-") != 4:
        raise ApplicationError("invalid cursor", extra={"fields": {"cursor": ["invalid cursor"]}})
    return text


def segment_members_page(
    *, segment: Segment, after: str | None, limit: int | None, store: EventStore | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Members ordered by person id after the cursor's one, and the next cursor (None at the
    end); ``limit`` None returns every member."""
    store = store or get_store()
    params = Params(project_id=segment.project_id)
    sql = members_sql(project_id=segment.project_id, segment_id=segment.id, params=params)
    static = segment.id if segment.is_static else None
    rows = store.query(
        queries.members_page_query(sql, params, after=after, limit=limit, static_segment_id=static)
    ).dicts()
    members = [
        {
            "person_id": row["person_id"],
            "distinct_id": row["distinct_id"] or None,
            "last_seen": (
                datetime.fromtimestamp(int(row["last_seen_ms"]) / 1000, tz=UTC).isoformat()
                if row["last_seen_ms"] is not None
                else None
            ),
            "properties": orjson.loads(row["properties"]) if row["properties"] else {},
        }
        for row in rows
    ]
    next_cursor = encode_cursor(members[-1]["person_id"]) if limit is not None and len(members) == limit else None
    return members, next_cursor
