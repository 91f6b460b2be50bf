"""Reads of aggregates: final rollups from the Django DB, live figures past the watermark.

Buckets before a stream's event-time watermark are final and read from the rollup
table; the buckets from the watermark to the end of the asked range are computed live
from raw events by the same query the runs use, and marked ``final: false``.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from django.db.models import Q

from analytics.accounts.models import Project
from analytics.aggregation.granularity import (
    Granularity,
    bucket_ceil,
    bucket_floor,
)
from analytics.aggregation.models import Rollup, Watermark
from analytics.aggregation.queries.rollups import rollup_query
from analytics.aggregation.queries.users import EVENT_FIELDS, user_events_query, user_totals_query
from analytics.core.errors import ApplicationError, NotFound
from analytics.core.inputs import InvalidParameter, epoch_ms
from analytics.core.timeutils import from_epoch_ms, utc_now
from analytics.warehouse.store import get_store

Piece = tuple[datetime, datetime]

# Range shown when the client gives no ``from``.
DEFAULT_SPAN = {
    Granularity.MINUTE: timedelta(hours=1),
    Granularity.FIVE_MINUTES: timedelta(hours=6),
    Granularity.HOUR: timedelta(days=2),
    Granularity.DAY: timedelta(days=31),
    Granularity.MONTH: timedelta(days=366),
}
# Longest range one request may ask for, so a request stays a bounded query.
MAX_SPAN = {
    Granularity.MINUTE: timedelta(days=2),
    Granularity.FIVE_MINUTES: timedelta(days=14),
    Granularity.HOUR: timedelta(days=186),
    Granularity.DAY: timedelta(days=3 * 366),
    Granularity.MONTH: timedelta(days=10 * 366),
}


def watermark_get(*, project_id: int, granularity: Granularity) -> Watermark | None:
    return Watermark.objects.filter(project_id=project_id, granularity=granularity.value).first()


def _result(
    bucket: datetime,
    event: str,
    count: int,
    unique_users: int,
    unique_persons: int,
    measures: dict[str, Any],
    measure: str | None,
    final: bool,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "bucket": bucket.astimezone(UTC),
        "event": event,
        "count": count,
        "unique_users": unique_users,
        "unique_persons": unique_persons,
        "final": final,
    }
    if measure is not None:
        row["measure"] = measures.get(measure)
    else:
        row["measure"] = None
        row["measures"] = measures
    return row


def _bounds(project: Project, granularity: Granularity, start: datetime | None, end: datetime | None) -> Piece:
    """``[start, end)`` (defaults applied, span checked) widened to whole buckets."""
    end = (end or utc_now()).astimezone(UTC)
    start = (start or end - DEFAULT_SPAN[granularity]).astimezone(UTC)
    if start >= end:
        raise ApplicationError("'from' must be before 'to'")
    if end - start > MAX_SPAN[granularity]:
        raise ApplicationError(
            f"range too long for {granularity.value} buckets: at most {MAX_SPAN[granularity].days} days"
        )
    return bucket_floor(start, granularity, project.timezone), bucket_ceil(end, granularity, project.timezone)


def _live_results(
    project: Project,
    granularity: Granularity,
    start: datetime,
    end: datetime,
    event: str | None,
    measure: str | None,
) -> list[dict[str, Any]]:
    """The buckets of ``[start, end)`` computed from raw events (past the watermark)."""
    table = get_store().query(
        rollup_query(
            project_id=project.id,
            granularity=granularity,
            tz_name=project.timezone,
            measures=project.aggregated_measures,
            start=start,
            end=end,
            event=event,
        )
    )
    return [
        _result(
            from_epoch_ms(int(live["bucket"]) * 1000),
            live["event"],
            int(live["count"]),
            int(live["unique_users"]),
            int(live["unique_persons"]),
            orjson.loads(live["measures"]),
            measure,
            False,
        )
        for live in table.dicts()
    ]


def aggregates_for(
    *,
    project: Project,
    granularity: Granularity,
    start: datetime | None = None,
    end: datetime | None = None,
    event: str | None = None,
    measure: str | None = None,
) -> dict[str, Any]:
    """Buckets in [start, end) (widened to whole buckets): final rows from the rollup
    table, rows past the watermark computed live (final=False)."""
    if measure is not None and measure not in project.aggregated_measures:
        raise ApplicationError(
            f"measure {measure!r} is not aggregated for this project",
            extra={"measures": project.aggregated_measures},
        )
    low, high = _bounds(project, granularity, start, end)

    watermark = watermark_get(project_id=project.id, granularity=granularity)
    mark = watermark.event_time_mark if watermark else None
    results: list[dict[str, Any]] = []
    final_end = min(high, mark) if mark else low
    if final_end > low:
        rows = Rollup.objects.filter(
            project_id=project.id, granularity=granularity.value, bucket__gte=low, bucket__lt=final_end
        )
        if event is not None:
            rows = rows.filter(event=event)
        for rollup in rows.order_by("bucket", "event"):
            results.append(
                _result(
                    rollup.bucket,
                    rollup.event,
                    rollup.count,
                    rollup.unique_users,
                    rollup.unique_persons,
                    rollup.measures,
                    measure,
                    True,
                )
            )
    live_start = max(low, mark) if mark else low
    if high > live_start:
        results.extend(_live_results(project, granularity, live_start, high, event, measure))
    return {
        "granularity": granularity.value,
        "timezone": project.timezone,
        "from": low,
        "to": high,
        "watermark": mark,
        "results": results,
    }


def rollups_of_pieces(*, project: Project, pieces: list[tuple[Granularity, Piece]]) -> list[list[dict[str, Any]]]:
    """``aggregates_for(...)["results"]`` of each ``(granularity, (start, end))`` piece (all
    events, all measures), from one read of the watermarks and one of the rollup table for
    all of them: a composed answer (telecom) asks for several pieces at once, and per piece
    the two reads and the model instances cost more than its few rows."""
    marks: dict[str, datetime | None] = dict(
        Watermark.objects.filter(
            project_id=project.id, granularity__in={granularity.value for granularity, _ in pieces}
        ).values_list("granularity", "event_time_mark")
    )
    finals: list[tuple[str, datetime, datetime] | None] = []  # per piece: its final buckets
    lives: list[tuple[Granularity, datetime, datetime] | None] = []  # per piece: its live buckets
    condition = Q()
    for granularity, (start, end) in pieces:
        low, high = _bounds(project, granularity, start, end)
        mark = marks.get(granularity.value)
        final_end = min(high, mark) if mark else low
        finals.append((granularity.value, low, final_end) if final_end > low else None)
        if final_end > low:
            condition |= Q(granularity=granularity.value, bucket__gte=low, bucket__lt=final_end)
        live_start = max(low, mark) if mark else low
        lives.append((granularity, live_start, high) if high > live_start else None)
    results: list[list[dict[str, Any]]] = [[] for _ in pieces]
    if any(finals):
        fields = ("granularity", "bucket", "event", "count", "unique_users", "unique_persons", "measures")
        rows = Rollup.objects.filter(condition, project_id=project.id).order_by("bucket", "event").values_list(*fields)
        for granularity_value, bucket, event, count, users, persons, measures in rows:
            for index, final in enumerate(finals):
                if final is not None and final[0] == granularity_value and final[1] <= bucket < final[2]:
                    results[index].append(_result(bucket, event, count, users, persons, measures, None, True))
    for index, live in enumerate(lives):
        if live is not None:
            results[index].extend(_live_results(project, live[0], live[1], live[2], None, None))
    return results


def global_totals_for(
    *,
    project: Project,
    period: str,
    start: datetime | None = None,
    end: datetime | None = None,
    event: str | None = None,
) -> dict[str, Any]:
    """Totals per event type over all users per local day or month (telecom global view):
    count, unique users and the sum of each measure, from the 1d / 1mo rollups."""
    granularity = Granularity.MONTH if period == "month" else Granularity.DAY
    data = aggregates_for(project=project, granularity=granularity, start=start, end=end, event=event)
    results = []
    for row in data["results"]:
        measures = row.pop("measures", {}) or {}
        row.pop("measure", None)
        row["totals"] = {name: stats["sum"] for name, stats in measures.items()}
        results.append(row)
    return {**data, "period": period, "results": results}


def encode_cursor(timestamp_ms: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{timestamp_ms}:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        milliseconds, event_id = text.split(":", 1)
        moment, event_id = epoch_ms(int(milliseconds), "cursor"), str(uuid.UUID(event_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameter("cursor", "is not a cursor this API returned") from None
    return moment, event_id


def _totals(project: Project, distinct_id: str, period: str) -> list[dict[str, Any]]:
    measures = project.aggregated_measures
    table = get_store().query(
        user_totals_query(
            project_id=project.id, distinct_id=distinct_id, tz_name=project.timezone, period=period, measures=measures
        )
    )
    rows = []
    for row in table.dicts():
        value = row["period"]
        rows.append(
            {
                period: value.isoformat() if isinstance(value, date) else str(value),
                "event": row["event"],
                "count": int(row["count"]),
                "totals": {
                    name: row[f"sum_{index}"] for index, name in enumerate(measures) if row[f"sum_{index}"] is not None
                },
            }
        )
    return rows


def user_detail_for(*, project: Project, distinct_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """One user's events (newest first, ``limit`` per page, keyset cursor) and the user's
    totals per event type by local day and by local month. 404 for an unknown user."""
    before = decode_cursor(cursor) if cursor else None
    table = get_store().query(
        user_events_query(project_id=project.id, distinct_id=distinct_id, limit=limit + 1, before=before)
    )
    rows = table.dicts()
    if not rows and before is None:
        raise NotFound("user not found")
    page = rows[:limit]
    events = []
    for row in page:
        item = {name: row[column] for name, column in EVENT_FIELDS.items()}
        item["timestamp"] = from_epoch_ms(int(item["timestamp"]))
        item["properties"] = orjson.loads(row["properties"] or "{}")
        events.append(item)
    next_cursor = encode_cursor(int(page[-1]["timestamp_ms"]), page[-1]["event_id_text"]) if len(rows) > limit else None
    return {
        "distinct_id": distinct_id,
        "timezone": project.timezone,
        "events": events,
        "next_cursor": next_cursor,
        "totals": {"by_day": _totals(project, distinct_id, "day"), "by_month": _totals(project, distinct_id, "month")},
    }
