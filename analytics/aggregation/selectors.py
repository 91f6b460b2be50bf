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
    tz_name = project.timezone
    end = (end or utc_now()).astimezone(UTC)
    start = (start or end - DEFAULT_SPAN[granularity]).astimezone(UTC)
    if start >= end:
        raise ApplicationError("'from' must be before 'to'")
    if end - start > MAX_SPAN[granularity]:
        raise ApplicationError(
            f"range too long for {granularity.value} buckets: at most {MAX_SPAN[granularity].days} days"
        )
    low = bucket_floor(start, granularity, tz_name)
    high = bucket_ceil(end, granularity, tz_name)

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
        table = get_store().query(
            rollup_query(
                project_id=project.id,
                granularity=granularity,
                tz_name=tz_name,
                measures=project.aggregated_measures,
                start=live_start,
                end=high,
                event=event,
            )
        )
        for live in table.dicts():
            results.append(
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
            )
    return {
        "granularity": granularity.value,
        "timezone": tz_name,
        "from": low,
        "to": high,
        "watermark": mark,
        "results": results,
    }


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
