"""Runs compiled funnel queries on the event store and shapes the answers.

``run_funnel`` answers::

    {"steps": [{"event", "events", "name", "count", "conversion_from_start",
                "conversion_from_previous", "dropped", "median_seconds_to_convert",
                "avg_seconds_to_convert"}],
     "breakdown": [{"breakdown_value", "is_other", "steps": [...]}],   # only with a breakdown
     "order", "window_seconds", "from", "to", "time_zone", "computed_at"}

Rates are fractions in [0, 1] (0 when the step before had nobody); ``dropped`` of step k is
the persons who reached step k - 1 but not step k (0 for the first step); the seconds to
convert of step k are over the persons who reached step k, from their step k - 1 (null for
the first step and when nobody converted). With a breakdown, ``steps`` is the whole funnel
and ``breakdown`` has the top values by persons entering (ties by value), then the rest as
``"$other"``; ``breakdown_value`` null means "not set" (or, with step attribution, "did not
reach that step").
"""

from __future__ import annotations

import base64
import binascii
import uuid
from bisect import bisect_right
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from analytics.core.errors import ApplicationError
from analytics.core.timeutils import utc_now
from analytics.funnels.compiler import (
    OTHER,
    compile_actor_ids,
    compile_actors,
    compile_histogram,
    compile_steps,
    compile_trend,
)
from analytics.funnels.model import FunnelQuery
from analytics.query.model import DateRange
from analytics.query.timerange import iter_buckets
from analytics.warehouse.store import EventStore, get_store


def _number(value: Any) -> float | None:
    if value is None or value != value:  # NULL or NaN (no converters)
        return None
    return float(value)


def _steps(query: FunnelQuery, row: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    first = int(row.get("count_0") or 0)
    previous = first
    for index, step in enumerate(query.steps):
        count = int(row.get(f"count_{index}") or 0)
        out.append(
            {
                "event": step.label(),
                "events": list(step.events),
                "name": step.name,
                "count": count,
                "conversion_from_start": count / first if first else 0.0,
                "conversion_from_previous": count / previous if previous else 0.0,
                "dropped": previous - count if index else 0,
                "median_seconds_to_convert": _number(row.get(f"median_{index}")) if index else None,
                "avg_seconds_to_convert": _number(row.get(f"avg_{index}")) if index else None,
            }
        )
        previous = count
    return out


def _frame(query: FunnelQuery) -> dict[str, Any]:
    zone = ZoneInfo(query.time_zone)
    return {
        "order": query.order,
        "window_seconds": query.window_seconds,
        "from": query.date_from.astimezone(zone).isoformat(),
        "to": query.date_to.astimezone(zone).isoformat(),
        "time_zone": query.time_zone,
        "computed_at": utc_now().isoformat(),
    }


def _group_order(group: dict[str, Any]) -> tuple[bool, int, str]:
    """Top values by persons entering (ties by value), "other" last."""
    return (bool(group["is_other"]), -int(group["steps"][0]["count"]), str(group["breakdown_value"] or ""))


def run_funnel(*, project_id: int, query: FunnelQuery, store: EventStore | None = None) -> dict[str, Any]:
    """Counts and conversion per step (the caller has checked the user may read the project)."""
    store = store or get_store()
    rows = store.query(compile_steps(project_id=project_id, query=query)).dicts()
    if query.breakdown is None:
        return {"steps": _steps(query, rows[0] if rows else {}), **_frame(query)}
    total: dict[str, Any] = {}
    groups: list[dict[str, Any]] = []
    for row in rows:
        if row["is_top"] is None:
            total = row
            continue
        is_other = not row["is_top"]
        value = row["value"]
        groups.append(
            {
                "breakdown_value": OTHER if is_other else (value or None),
                "is_other": is_other,
                "steps": _steps(query, row),
            }
        )
    groups.sort(key=_group_order)
    return {"steps": _steps(query, total), "breakdown": groups, **_frame(query)}


class BadCursor(ApplicationError):
    def __init__(self) -> None:
        super().__init__("invalid cursor", extra={"fields": {"cursor": ["invalid cursor"]}})


def encode_cursor(person_id: str) -> str:
    return base64.urlsafe_b64encode(person_id.encode()).decode()


def decode_cursor(cursor: str) -> str:
    """The person id a page ends at; anything but an encoded UUID is a 400 naming ``cursor``."""
    try:
        return str(uuid.UUID(base64.urlsafe_b64decode(cursor.encode()).decode()))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor() from None


def run_actors(
    *,
    project_id: int,
    query: FunnelQuery,
    step: int,
    status: str,
    breakdown_value: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
    store: EventStore | None = None,
) -> dict[str, Any]:
    """``{"results": [{"person_id", "distinct_ids", "properties", "reached_steps"}], "next": cursor|null}``.

    ``converted``: persons whose counted attempt reached ``step``; ``dropped``: reached
    ``step - 1`` but not ``step``. Ordered by person id; ``next`` is the cursor of the next page.
    """
    store = store or get_store()
    after = decode_cursor(cursor) if cursor else None
    rows = store.query(
        compile_actors(
            project_id=project_id,
            query=query,
            step=step,
            status=status,
            breakdown_value=breakdown_value,
            after=after,
            limit=limit + 1,
        )
    ).dicts()
    results = [
        {
            "person_id": row["person_id"],
            "distinct_ids": sorted(row["distinct_ids"]),
            "properties": orjson.loads(row["properties"] or "{}"),
            "reached_steps": int(row["reached"]),
        }
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return {"results": results, "next": encode_cursor(results[-1]["person_id"]) if more else None}


def actor_distinct_ids(
    *,
    project_id: int,
    query: FunnelQuery,
    step: int,
    status: str,
    breakdown_value: str | None = None,
    limit: int = 1_000_000,
    store: EventStore | None = None,
) -> list[str]:
    store = store or get_store()
    compiled = compile_actor_ids(
        project_id=project_id, query=query, step=step, status=status, breakdown_value=breakdown_value, limit=limit
    )
    return [row["distinct_id"] for row in store.query(compiled).dicts()]


def run_histogram(
    *,
    project_id: int,
    query: FunnelQuery,
    from_step: int,
    to_step: int,
    bins: int,
    store: EventStore | None = None,
) -> dict[str, Any]:
    """``{"bins": [{"from_seconds", "to_seconds", "persons"}], "persons"}``: equal-width bins from the
    fastest to the slowest conversion, each ``[from, to)`` except the last, which is closed."""
    store = store or get_store()
    compiled = compile_histogram(project_id=project_id, query=query, from_step=from_step, to_step=to_step, bins=bins)
    rows = store.query(compiled).dicts()
    if not rows:
        return {"bins": [], "persons": 0}
    counts = {int(row["bin"]): int(row["persons"]) for row in rows}
    total = sum(counts.values())
    low, high = float(rows[0]["low"]), float(rows[0]["high"])
    if high == low:
        return {"bins": [{"from_seconds": low, "to_seconds": high, "persons": total}], "persons": total}
    width = (high - low) / bins
    out = [
        {
            "from_seconds": low + index * width,
            "to_seconds": high if index == bins - 1 else low + (index + 1) * width,
            "persons": counts.get(index, 0),
        }
        for index in range(bins)
    ]
    return {"bins": out, "persons": total}


def run_trend(
    *, project_id: int, query: FunnelQuery, interval: str, to_step: int, store: EventStore | None = None
) -> dict[str, Any]:
    """``{"points": [{"bucket", "entered", "converted", "conversion_rate"}], "interval", "to_step"}``, one
    point per day/week (project zone) of the counted attempt's entry; empty buckets are zeros."""
    store = store or get_store()
    zone = ZoneInfo(query.time_zone)
    epochs = [
        int(bucket.timestamp()) for bucket in iter_buckets(DateRange(query.date_from, query.date_to), interval, zone)
    ]
    entered = dict.fromkeys(epochs, 0)
    converted = dict.fromkeys(epochs, 0)
    compiled = compile_trend(project_id=project_id, query=query, interval=interval, to_step=to_step)
    for row in store.query(compiled).dicts():
        index = bisect_right(epochs, int(row["bucket"])) - 1
        if index >= 0:
            entered[epochs[index]] += int(row["entered"])
            converted[epochs[index]] += int(row["converted"])
    points = [
        {
            "bucket": datetime.fromtimestamp(epoch, tz=zone).isoformat(),
            "entered": entered[epoch],
            "converted": converted[epoch],
            "conversion_rate": converted[epoch] / entered[epoch] if entered[epoch] else 0.0,
        }
        for epoch in epochs
    ]
    return {"points": points, "interval": interval, "to_step": to_step, **_frame(query)}
