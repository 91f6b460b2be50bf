"""Runs retention queries on the event store and shapes the answer.

``run_retention`` answers::

    {"cohorts": [{"start", "size", "values": [v0, v1, ..., v_periods]}],
     "breakdown"?: [{"breakdown_value", "is_other", "cohorts": [...]}],
     "period", "periods", "mode", "returning", "from", "to", "time_zone", "computed_at"}

One cohort per period whose span meets ``[from, to)``, oldest first, empty ones included
(size 0, values 0). ``start`` is the period's start in ISO 8601 with the project's offset
at that moment. ``values[0]`` is the size; ``values[k]`` is null when period k of the
cohort has not started at ``now`` (the period in progress counts the returns so far).
With a breakdown, ``cohorts`` holds the totals and ``breakdown`` one table per top value,
largest first (by the sum of its cohort sizes, ties by value), ``breakdown_value`` null
for "not set", then ``"$other"`` (``is_other: true``) when there are more values.
Semantics of membership and returns: ``analytics.cohorts.compiler``.
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.cohorts.compiler import compile_cell_users, compile_retention
from analytics.cohorts.model import Cell, RetentionQuery
from analytics.core.timeutils import utc_now
from analytics.query.model import DateRange
from analytics.query.timerange import floor_bucket, iter_buckets
from analytics.warehouse.store import EventStore, get_store

OTHER = "$other"
# Spreadsheet programs run a cell that starts with these as a formula.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def shift_periods(start: datetime, period: str, count: int, zone: ZoneInfo) -> datetime:
    """The start (aware UTC) of the period ``count`` periods after the one starting at ``start``."""
    day = start.astimezone(zone).date()
    if period == "day":
        day += timedelta(days=count)
    elif period == "week":
        day += timedelta(days=7 * count)
    else:
        year, month = divmod(day.year * 12 + day.month - 1 + count, 12)
        day = date(year, month + 1, 1)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(start.tzinfo)


@dataclass(frozen=True)
class _Frame:
    """The cohort periods of a query and the window of return events it reads."""

    starts: list[datetime]
    epochs: list[int]
    returns_from: datetime
    returns_to: datetime


def _frame(query: RetentionQuery, now: datetime) -> _Frame:
    zone = ZoneInfo(query.time_zone)
    starts = list(iter_buckets(DateRange(query.date_from, query.date_to), query.period, zone))
    returns_from = floor_bucket(query.date_from, query.period, zone)
    returns_to = now
    if query.returning == "on":
        returns_to = min(now, shift_periods(starts[-1], query.period, query.periods + 1, zone))
    return _Frame(starts, [int(start.timestamp()) for start in starts], returns_from, max(returns_from, returns_to))


def _table(frame: _Frame, query: RetentionQuery, counts: dict[int, list[int]], now: datetime) -> list[dict[str, Any]]:
    zone = ZoneInfo(query.time_zone)
    table = []
    for index, start in enumerate(frame.starts):
        row = counts.get(index) or [0] * (query.periods + 1)
        values: list[int | None] = [row[0]]
        for k in range(1, query.periods + 1):
            started = shift_periods(start, query.period, k, zone) < now
            values.append(row[k] if started else None)
        table.append({"start": start.astimezone(zone).isoformat(), "size": row[0], "values": values})
    return table


def _size(counts: dict[int, list[int]]) -> int:
    return sum(row[0] for row in counts.values())


def run_retention(
    *, project_id: int, query: RetentionQuery, store: EventStore | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Compute a retention table for one project (the caller has checked the user may read it)."""
    store = store or get_store()
    now = now or utc_now()
    frame = _frame(query, now)
    compiled = compile_retention(
        project_id=project_id, query=query, returns_from=frame.returns_from, returns_to=frame.returns_to
    )
    groups: dict[tuple[bool, str], dict[int, list[int]]] = {}
    totals: dict[int, list[int]] = {}
    for row in store.query(compiled).dicts():
        index = bisect_right(frame.epochs, int(row["cohort_epoch"])) - 1
        k = int(row["k"])
        if index < 0 or k > query.periods:
            continue
        for counts in (groups.setdefault((bool(row["is_top"]), str(row["breakdown_value"])), {}), totals):
            counts.setdefault(index, [0] * (query.periods + 1))[k] += int(row["users"])
    zone = ZoneInfo(query.time_zone)
    answer: dict[str, Any] = {"cohorts": _table(frame, query, totals, now)}
    if query.breakdown is not None:
        ordered = sorted(groups.items(), key=lambda item: (not item[0][0], -_size(item[1]), item[0][1]))
        answer["breakdown"] = [
            {
                "breakdown_value": (value or None) if is_top else OTHER,
                "is_other": not is_top,
                "cohorts": _table(frame, query, counts, now),
            }
            for (is_top, value), counts in ordered
        ]
    answer.update(
        period=query.period,
        periods=query.periods,
        mode=query.mode,
        returning=query.returning,
        time_zone=query.time_zone,
        computed_at=now.isoformat(),
    )
    answer["from"] = query.date_from.astimezone(zone).isoformat()
    answer["to"] = query.date_to.astimezone(zone).isoformat()
    return answer


def cell_users(
    *,
    project_id: int,
    query: RetentionQuery,
    cell: Cell,
    limit: int,
    after: str | None = None,
    store: EventStore | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """One page of the users counted in a cell: ``{"users": [{"person_id", "distinct_id"}], "next_cursor"}``.

    Ordered by person id; ``next_cursor`` (null on the last page) goes back as ``cursor``.
    A cell of a period that has not started has no users.
    """
    store = store or get_store()
    now = now or utc_now()
    frame = _frame(query, now)
    zone = ZoneInfo(query.time_zone)
    cohort_start = floor_bucket(cell.cohort_start, query.period, zone)
    if cell.k > 0 and shift_periods(cohort_start, query.period, cell.k, zone) >= now:
        return {"users": [], "next_cursor": None}
    compiled = compile_cell_users(
        project_id=project_id,
        query=query,
        cell=cell,
        returns_from=frame.returns_from,
        returns_to=frame.returns_to,
        after=after,
        limit=limit + 1,
    )
    rows = store.query(compiled).dicts()
    users = [{"person_id": str(row["person"]), "distinct_id": str(row["distinct_id"])} for row in rows[:limit]]
    return {"users": users, "next_cursor": users[-1]["person_id"] if len(rows) > limit else None}


def all_cell_users(
    *, project_id: int, query: RetentionQuery, cell: Cell, store: EventStore | None = None, page: int = 1000
) -> Iterable[dict[str, str]]:
    """Every user of a cell, page by page (for saving them as a segment)."""
    now = utc_now()
    after = None
    while True:
        answer = cell_users(
            project_id=project_id, query=query, cell=cell, limit=page, after=after, store=store, now=now
        )
        yield from answer["users"]
        after = answer["next_cursor"]
        if after is None:
            return


def _safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def retention_csv(answer: dict[str, Any]) -> str:
    """The table as CSV: ``cohort_start, [breakdown_value,] size, period_0 .. period_N``.

    With a breakdown, one row per (value, cohort) and no totals; "not set" is an empty
    value, the rest ``$other``. Periods that have not started are empty cells. Values a
    spreadsheet would run as a formula get a leading ``'``.
    """
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\r\n")
    with_breakdown = "breakdown" in answer
    header = ["cohort_start", *(["breakdown_value"] if with_breakdown else []), "size"]
    writer.writerow(header + [f"period_{k}" for k in range(answer["periods"] + 1)])

    def rows(cohorts: list[dict[str, Any]], value: list[str]) -> None:
        for cohort in cohorts:
            cells = ["" if v is None else str(v) for v in cohort["values"]]
            writer.writerow([cohort["start"], *value, str(cohort["size"]), *cells])

    if with_breakdown:
        for group in answer["breakdown"]:
            rows(group["cohorts"], [_safe(group["breakdown_value"] or "")])
    else:
        rows(answer["cohorts"], [])
    return output.getvalue()
