"""Global aggregates of a range that is not whole days or months, composed from pieces.

The answer per local day or month and type (count, duration, bytes, unique users) must be
the one a single raw read of the range gives. Reading the raw actions means parsing the
JSON properties of every action in the range, so instead:

- an output bucket (day or month) that lies wholly inside the range comes from that
  granularity's rollups, unique users included;
- for a bucket the range only partly covers, count and measures are sums, so they are
  added up from the whole local days inside it (``1d`` rollups), the whole hours of its
  ragged edges (``1h`` rollups) and the minutes left over (raw, their measures parsed
  from the properties as the rollups parse them);
- its unique users cannot be added up from smaller buckets (one user active in two hours
  counts once), and the rollups keep counts, not sets. They come from the users of the
  whole UTC days inside the partial bucket, read from ``action_user_days`` (one row per
  user, UTC month and type with a bit per active day, migration 0008), and the users of
  the edges around those days (less than a UTC day at each end), read raw (``distinct_id``
  and the sort-key columns only). UTC days fit every zone: a local bucket's edges are
  whatever its bounds leave of a UTC day, at any offset and across DST changes.
- counted one of two ways, both exact. When the whole days and the edges lie in one UTC
  month and that month of ``action_user_days`` is one part (the store's maintenance merges
  closed months, ``warehouse.services.user_days_partitions_optimize``), its rows are read
  ``FINAL`` (one per type and user, nothing to merge) and counted: the users whose days
  meet the whole days, plus those among the few rows meeting only the edges' days that
  are edge users (``queries.actions.FoldedUsers``). Otherwise (the current month, rows
  not merged yet, edges in another month) one ``uniqExact`` over the mask rows and the
  raw edges together: ``FINAL`` over parts not merged yet would cost more than that set.

Hour rollups are aligned to UTC: they are used only where the zone's offset is whole hours
(each UTC hour then lies in one local day); elsewhere the edges are read raw. A range with
nothing to take from the rollups returns None, and the caller's single raw read answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.accounts.models import Project
from analytics.aggregation.granularity import Granularity, bucket_ceil, bucket_floor, bucket_next
from analytics.aggregation.selectors import rollups_of_pieces
from analytics.core.errors import ApplicationError
from analytics.core.timeutils import to_epoch_ms
from analytics.telecom.queries.actions import (
    NETWORK_ACTION_TYPES,
    RAW_PIECE,
    USERS_PIECE,
    FoldedUsers,
    composed_read_query,
    composed_unique_users_query,
    global_measures_query,
)
from analytics.warehouse.guard import Query
from analytics.warehouse.selectors import merged_user_day_months
from analytics.warehouse.store import get_store

MEASURES = ("duration_sec", "bytes_up", "bytes_down")
_OUTPUT = {"day": Granularity.DAY, "month": Granularity.MONTH}
Piece = tuple[datetime, datetime]


class _Totals:
    """Sums per (local period, type), and the unique users of each."""

    def __init__(self, period_name: str, tz_name: str) -> None:
        self.period_name = period_name
        self.zone = ZoneInfo(tz_name)
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}

    def _row(self, date_text: str, kind: str) -> dict[str, Any]:
        if self.period_name == "month":
            date_text = date_text[:8] + "01"
        key = (date_text, kind)
        row = self.rows.get(key)
        if row is None:
            row = {"date": date_text, "type": kind, "count": 0, "unique_users": 0}
            row.update(dict.fromkeys(MEASURES, 0))
            self.rows[key] = row
        return row

    def add_rollups(self, results: list[dict[str, Any]], *, with_users: bool) -> None:
        for result in results:
            if result["event"] not in NETWORK_ACTION_TYPES or not result["count"]:
                continue
            row = self._row(result["bucket"].astimezone(self.zone).date().isoformat(), result["event"])
            row["count"] += int(result["count"])
            for name in MEASURES:
                row[name] += (result["measures"].get(name) or {}).get("sum") or 0
            if with_users:
                row["unique_users"] = int(result["unique_users"])

    def add_raw(self, results: list[dict[str, Any]]) -> None:
        for result in results:
            row = self._row(_date_text(result["period"]), result["event"])
            row["count"] += int(result["count"])
            for name in MEASURES:
                row[name] += result[name] or 0

    def set_users(self, results: list[dict[str, Any]]) -> None:
        for result in results:
            self._row(_date_text(result["period"]), result["event"])["unique_users"] = int(result["unique_users"])

    def answer(self) -> list[dict[str, Any]]:
        out = []
        for key in sorted(self.rows):
            row = self.rows[key]
            if not row["count"]:
                continue
            duration = float(row["duration_sec"])
            out.append(
                {
                    "date": row["date"],
                    "type": row["type"],
                    "count": row["count"],
                    "duration_sec": int(duration) if duration.is_integer() else duration,
                    "bytes_up": int(row["bytes_up"]),
                    "bytes_down": int(row["bytes_down"]),
                    "unique_users": row["unique_users"],
                }
            )
        return out


def _date_text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)[:10]


def _whole(piece: Piece, granularity: Granularity, tz_name: str) -> tuple[Piece | None, list[Piece]]:
    """The whole buckets of ``granularity`` inside ``piece`` and the ragged edges around them."""
    start, end = piece
    low, high = bucket_ceil(start, granularity, tz_name), bucket_floor(end, granularity, tz_name)
    if low >= high:
        return None, [piece]
    edges = [edge for edge in ((start, low), (high, end)) if edge[0] < edge[1]]
    return (low, high), edges


def _whole_hour_offsets(piece: Piece, zone: ZoneInfo) -> bool:
    offsets = {moment.astimezone(zone).utcoffset() for moment in piece}
    return len(offsets) == 1 and all(offset is not None and offset.total_seconds() % 3600 == 0 for offset in offsets)


@dataclass
class _Users:
    """The unique users of one partial output bucket: whole UTC days and raw edges."""

    masks: dict[date, int] = field(default_factory=dict)  # UTC month -> its whole days' bits
    edges: list[Piece] = field(default_factory=list)  # the rest, less than a UTC day each


@dataclass
class _Plan:
    """Where each piece of the range is read from."""

    whole_periods: Piece | None = None  # whole output buckets: that granularity's rollups
    partial: list[Piece] = field(default_factory=list)  # the rest (output buckets in part)
    user_days: list[tuple[date, date, int]] = field(default_factory=list)  # (period, UTC month, day mask)
    user_raw: list[Piece] = field(default_factory=list)  # unique users of the rest: raw
    days: list[Piece] = field(default_factory=list)  # whole days of the rest: 1d rollups
    hours: list[Piece] = field(default_factory=list)  # whole hours of the rest: 1h rollups
    raw: list[Piece] = field(default_factory=list)  # the minutes left over
    users: dict[date, _Users] = field(default_factory=dict)  # the same users, per output bucket


def _plan(period_name: str, start: datetime, end: datetime, tz_name: str) -> _Plan:
    plan = _Plan()
    zone = ZoneInfo(tz_name)
    plan.whole_periods, plan.partial = _whole((start, end), _OUTPUT[period_name], tz_name)
    for piece in plan.partial:
        for part in _split(piece, _OUTPUT[period_name], tz_name):
            _plan_users(plan, part, _period_start(part[0], period_name, zone))
        whole_days, day_edges = _whole(piece, Granularity.DAY, tz_name)
        if whole_days is not None:
            plan.days.append(whole_days)
        for edge in day_edges:
            if not _whole_hour_offsets(edge, zone):
                plan.raw.append(edge)
                continue
            whole_hours, hour_edges = _whole(edge, Granularity.HOUR, tz_name)
            if whole_hours is not None:
                plan.hours.append(whole_hours)
            plan.raw.extend(hour_edges)
    return plan


def _split(piece: Piece, granularity: Granularity, tz_name: str) -> list[Piece]:
    """``piece`` cut at the boundaries of ``granularity``'s buckets: one part per bucket."""
    parts, low = [], piece[0]
    while low < piece[1]:
        high = min(bucket_next(bucket_floor(low, granularity, tz_name), granularity, tz_name), piece[1])
        parts.append((low, high))
        low = high
    return parts


def _period_start(moment: datetime, period_name: str, zone: ZoneInfo) -> date:
    local = moment.astimezone(zone).date()
    return local.replace(day=1) if period_name == "month" else local


def _plan_users(plan: _Plan, piece: Piece, period: date) -> None:
    """Where the unique users of ``piece`` (inside one output bucket ``period``) come from:
    its whole UTC days from ``action_user_days`` (a day mask per UTC month), the rest raw."""
    whole_days, edges = _whole(piece, Granularity.DAY, "UTC")
    users = plan.users.setdefault(period, _Users())
    users.edges.extend(edges)
    plan.user_raw.extend(edges)
    if whole_days is None:
        return
    masks: dict[date, int] = {}
    day = whole_days[0].astimezone(UTC)
    while day < whole_days[1]:
        month = day.date().replace(day=1)
        masks[month] = masks.get(month, 0) | (1 << (day.day - 1))
        day += timedelta(days=1)
    for month, mask in masks.items():
        users.masks[month] = users.masks.get(month, 0) | mask
    plan.user_days.extend((period, month, mask) for month, mask in sorted(masks.items()))


def _foldable(users: _Users) -> tuple[date, int] | None:
    """``(UTC month, edge days)`` when a period's users can be counted from the folded rows
    of one month (``queries.actions.FoldedUsers``): its whole days and every edge in it."""
    if len(users.masks) != 1:
        return None
    (month,) = users.masks
    edge_mask = 0
    for low, high in users.edges:  # each under a UTC day: its first and last day cover it
        for moment in (low, high - timedelta(milliseconds=1)):
            day = moment.astimezone(UTC).date()
            if day.replace(day=1) != month:
                return None
            edge_mask |= 1 << (day.day - 1)
    return month, edge_mask


def _users_query(project: Project, plan: _Plan, period_name: str) -> Query:
    """The unique users of the partial buckets. A period goes the folded way when its month
    of ``action_user_days`` is one part: ``FINAL`` then has nothing to merge and costs a
    plain scan, while over parts not merged yet it costs more than the one set it saves."""
    candidates = {period: _foldable(users) for period, users in plan.users.items()}
    merged = merged_user_day_months({found[0] for found in candidates.values() if found is not None})
    folded: list[FoldedUsers] = []
    day_sets: list[tuple[date, date, int]] = []
    ranges: list[Piece] = []
    for period, users in sorted(plan.users.items()):
        found = candidates[period]
        if found is not None and found[0] in merged:
            month, edge_mask = found
            folded.append(FoldedUsers(period, month, users.masks[month], edge_mask, _epoch_ranges(users.edges)))
            continue
        day_sets.extend((period, month, mask) for month, mask in sorted(users.masks.items()))
        ranges.extend(users.edges)
    return composed_unique_users_query(
        project_id=project.id,
        day_sets=day_sets,
        ranges=_epoch_ranges(ranges),
        tz_name=project.timezone,
        period=period_name,
        folded=folded,
    )


def _epoch_ranges(pieces: list[Piece]) -> list[tuple[int, int]]:
    return [(to_epoch_ms(low), to_epoch_ms(high)) for low, high in pieces]


def composed_totals(project: Project, period_name: str, start: datetime, end: datetime) -> list[dict[str, Any]] | None:
    """The global totals of ``[start, end)`` from rollups plus raw edges (module docstring),
    or None when the rollups cannot answer any part of it."""
    tz_name = project.timezone
    if not set(MEASURES) <= set(project.aggregated_measures):
        return None
    plan = _plan(period_name, start, end, tz_name)
    if plan.whole_periods is None and not plan.days and not plan.hours:
        return None
    totals = _Totals(period_name, tz_name)
    pieces = [(Granularity.DAY, piece) for piece in plan.days] + [(Granularity.HOUR, piece) for piece in plan.hours]
    if plan.whole_periods is not None:
        pieces.insert(0, (_OUTPUT[period_name], plan.whole_periods))
    try:
        results = rollups_of_pieces(project=project, pieces=pieces)
    except ApplicationError:  # a range longer than the rollups serve
        return None
    for index, found in enumerate(results):
        # Only the whole output buckets' rollups (the first piece) carry their unique users.
        totals.add_rollups(found, with_users=index == 0 and plan.whole_periods is not None)

    measures = users = None
    if plan.raw:
        ranges = _epoch_ranges(plan.raw)
        measures = global_measures_query(project_id=project.id, ranges=ranges, tz_name=tz_name, period=period_name)
    if plan.partial:
        users = _users_query(project, plan, period_name)
    if measures is not None or users is not None:
        rows = get_store().query(composed_read_query(measures=measures, users=users)).dicts()
        totals.add_raw([row for row in rows if row["piece"] == RAW_PIECE])
        totals.set_users([row for row in rows if row["piece"] == USERS_PIECE])
    return totals.answer()
