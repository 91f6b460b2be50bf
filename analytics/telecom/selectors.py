"""Reads of the telecom app: read-key lookups, and the provider-facing detail and aggregates.

The detail and aggregates read the stored network-action events
(analytics/ingestion/network_actions.py): ``event`` is the action type, ``distinct_id``
the provider's ``user_id``, ``timestamp`` its ``started_at``, the measures in the
properties. The events table holds each ``(project, source_id, event_id)`` once (the store
drops copies at write time, warehouse/once.py), so plain sums count every action once.
Ranges are half-open ``[from, to)``; days and months are those of the project's time zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from django.core.cache import cache
from django.utils import timezone

from analytics.accounts.keys import hash_key
from analytics.accounts.models import Project
from analytics.aggregation.granularity import Granularity, bucket_floor
from analytics.aggregation.selectors import aggregates_for, decode_cursor, encode_cursor
from analytics.core.errors import ApplicationError
from analytics.core.inputs import InvalidParameter
from analytics.core.timeutils import from_epoch_ms, to_epoch_ms
from analytics.telecom.composed import composed_totals
from analytics.telecom.keys import READ_KEY_PREFIX
from analytics.telecom.models import ReadKey
from analytics.telecom.queries.actions import (
    NETWORK_ACTION_TYPES,
    global_totals_query,
    user_actions_query,
    user_totals_query,
)
from analytics.warehouse.store import get_store

_KEY_CACHE_SECONDS = 30
MAX_RANGE_DAYS = 3660
DEFAULT_RANGE_DAYS = 31
PERIODS = ("day", "month")


def read_key_cache_key(key_hash: str) -> str:
    return f"telecom-read-key:{key_hash}"


def read_key_lookup(raw_key: str) -> ReadKey | None:
    """The active read key with this raw value (its project loaded), cached briefly."""
    if not raw_key.startswith(READ_KEY_PREFIX) or len(raw_key) > 100 or not raw_key.isascii():
        return None
    key_hash = hash_key(raw_key)
    cache_key = read_key_cache_key(key_hash)
    cached = cache.get(cache_key)
    if cached is not None:
        return cached if isinstance(cached, ReadKey) else None
    key = ReadKey.objects.select_related("project").filter(key_hash=key_hash, revoked_at__isnull=True).first()
    if key is not None and (key.last_used_at is None or timezone.now() - key.last_used_at > timedelta(minutes=1)):
        key.last_used_at = timezone.now()
        ReadKey.objects.filter(pk=key.pk).update(last_used_at=key.last_used_at)
    cache.set(cache_key, key if key is not None else False, _KEY_CACHE_SECONDS)
    return key


def read_keys_for_project(*, project: Project) -> list[ReadKey]:
    return list(ReadKey.objects.filter(project=project))


@dataclass(frozen=True)
class Range:
    start: datetime
    end: datetime


def time_range(start: datetime | None, end: datetime | None) -> Range:
    """``[from, to)``; without ``to``: now; without ``from``: 31 days before ``to``."""
    end = end or timezone.now()
    start = start or end - timedelta(days=DEFAULT_RANGE_DAYS)
    if start >= end:
        raise InvalidParameter("from", "must be before 'to'")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise InvalidParameter("to", f"must be at most {MAX_RANGE_DAYS} days after 'from'")
    return Range(start, end)


def _iso(moment_ms: int) -> str:
    return from_epoch_ms(moment_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _action(row: dict[str, Any], user_id: str) -> dict[str, Any]:
    properties = orjson.loads(row["properties"] or "{}")
    return {
        "event_id": row["event_id_text"],
        "source_id": row["source_id"],
        "user_id": user_id,
        "type": row["event"],
        "started_at": properties.get("started_at") or _iso(int(row["timestamp_ms"])),
        "ended_at": properties.get("ended_at"),
        "duration_sec": properties.get("duration_sec"),
        "bytes_up": properties.get("bytes_up"),
        "bytes_down": properties.get("bytes_down"),
        "meta": properties.get("meta") if isinstance(properties.get("meta"), dict) else {},
    }


def _period_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)[:10]


def _total(row: dict[str, Any]) -> dict[str, Any]:
    duration = float(row["duration_sec"] or 0)
    return {
        "date": _period_text(row["period"]),
        "type": row["event"],
        "count": int(row["count"]),
        "duration_sec": int(duration) if duration.is_integer() else duration,
        "bytes_up": int(row["bytes_up"] or 0),
        "bytes_down": int(row["bytes_down"] or 0),
    }


def _months(days: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Month totals as the sums of the day totals (every measure is a sum; local days lie in
    one local month), so the user's actions are read once."""
    months: dict[tuple[str, str], dict[str, Any]] = {}
    for day in days:
        key = (day["date"][:8] + "01", day["type"])
        month = months.setdefault(
            key, {"date": key[0], "type": key[1], "count": 0, "duration_sec": 0, "bytes_up": 0, "bytes_down": 0}
        )
        for name in ("count", "duration_sec", "bytes_up", "bytes_down"):
            month[name] += day[name]
    return [months[key] for key in sorted(months)]


def user_detail(*, project: Project, user_id: str, period: Range, limit: int, cursor: str | None) -> dict[str, Any]:
    """One user's actions in the range (oldest first, ``limit`` a page; ``next`` is the
    cursor of the following page or None) and the user's totals per type by day and month."""
    after = decode_cursor(cursor) if cursor else None
    start_ms, end_ms = to_epoch_ms(period.start), to_epoch_ms(period.end)
    store = get_store()
    rows = store.query(
        user_actions_query(
            project_id=project.id, user_id=user_id, start_ms=start_ms, end_ms=end_ms, limit=limit + 1, after=after
        )
    ).dicts()
    page = rows[:limit]
    next_cursor = encode_cursor(int(page[-1]["timestamp_ms"]), page[-1]["event_id_text"]) if len(rows) > limit else None
    days = [
        _total(row)
        for row in store.query(
            user_totals_query(
                project_id=project.id,
                user_id=user_id,
                start_ms=start_ms,
                end_ms=end_ms,
                tz_name=project.timezone,
                period="day",
            )
        ).dicts()
    ]
    totals = {"day": days, "month": _months(days)}
    return {
        "user_id": user_id,
        "from": _iso(start_ms),
        "to": _iso(end_ms),
        "actions": [_action(row, user_id) for row in page],
        "next": next_cursor,
        "totals": totals,
    }


_GRANULARITY = {"day": Granularity.DAY, "month": Granularity.MONTH}
_MEASURES = ("duration_sec", "bytes_up", "bytes_down")


def _measure_sum(measures: dict[str, Any], name: str) -> float:
    stats = measures.get(name) or {}
    return float(stats.get("sum") or 0)


def _from_rollups(project: Project, period_name: str, period: Range) -> list[dict[str, Any]] | None:
    """The totals from the aggregation's day or month rollups (final buckets from the Django
    DB, the rest computed live by the aggregation), when they can answer exactly: the range
    is whole buckets of the project's zone and the three measures are aggregated. Else None."""
    granularity = _GRANULARITY[period_name]
    tz_name = project.timezone
    if not set(_MEASURES) <= set(project.aggregated_measures):
        return None
    if bucket_floor(period.start, granularity, tz_name) != period.start:
        return None
    if bucket_floor(period.end, granularity, tz_name) != period.end:
        return None
    try:
        answer = aggregates_for(project=project, granularity=granularity, start=period.start, end=period.end)
    except ApplicationError:  # a range longer than the rollups serve
        return None
    zone = ZoneInfo(tz_name)
    totals = []
    for row in answer["results"]:
        if row["event"] not in NETWORK_ACTION_TYPES or not row["count"]:
            continue
        duration = _measure_sum(row["measures"], "duration_sec")
        totals.append(
            {
                "date": row["bucket"].astimezone(zone).date().isoformat(),
                "type": row["event"],
                "count": int(row["count"]),
                "duration_sec": int(duration) if duration.is_integer() else duration,
                "bytes_up": int(_measure_sum(row["measures"], "bytes_up")),
                "bytes_down": int(_measure_sum(row["measures"], "bytes_down")),
                "unique_users": int(row["unique_users"]),
            }
        )
    return sorted(totals, key=lambda item: (item["date"], item["type"]))


def global_aggregates(*, project: Project, period_name: str, period: Range) -> dict[str, Any]:
    """All users' totals per type and day or month: count, duration, bytes, unique users.

    A range of whole days or months is answered from the aggregation's rollups (the same
    figures, kept up to date by the aggregation beat); any other range from the rollups of
    the whole days and hours inside it plus the raw actions of its ragged edges
    (``composed.py``), or from the raw actions alone when no rollup covers any of it.
    """
    if period_name not in PERIODS:
        raise InvalidParameter("period", "must be day or month")
    start_ms, end_ms = to_epoch_ms(period.start), to_epoch_ms(period.end)
    totals = _from_rollups(project, period_name, period)
    if totals is None:
        totals = composed_totals(project, period_name, period.start, period.end)
    if totals is None:
        rows = (
            get_store()
            .query(
                global_totals_query(
                    project_id=project.id,
                    start_ms=start_ms,
                    end_ms=end_ms,
                    tz_name=project.timezone,
                    period=period_name,
                )
            )
            .dicts()
        )
        totals = [{**_total(row), "unique_users": int(row["unique_users"])} for row in rows]
    return {
        "period": period_name,
        "from": _iso(start_ms),
        "to": _iso(end_ms),
        "timezone": project.timezone,
        "totals": totals,
    }
