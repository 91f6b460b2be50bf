"""Preset reports: active users, revenue, stickiness, lifecycle, top events, pages and referrers.

Each preset is a kind (``PRESET_KINDS``) with a JSON query validated by its serializer and
answered by its runner, in the project's time zone. The common fields:

``{"from": "-30d", "to"?: ..., "event"?: "name", "filters"?: <filter>}`` (dates as in
``timerange``; ``event`` null or absent: every event; ``from: "all"`` is not accepted).

Per kind (semantics in the module docstring of each compiler, ``compiler/<kind>.py``):

- ``active_users``: ``points`` per local day ``{"bucket", "dau", "wau", "mau", "stickiness"}``;
- ``revenue``: ``{"interval"?, "property"?: "$revenue", "breakdown"?: {"key", "limit"?}}`` ->
  ``series`` revenue / paying_users / revenue_per_paying_user, and ``breakdown`` rows;
- ``stickiness``: ``{"interval"?: day|week|month}`` -> ``points`` ``{"active", "persons"}``
  for 1 .. the range's number of buckets;
- ``lifecycle``: ``{"interval"?: day|week|month}`` -> ``points`` per bucket ``{"bucket",
  "new", "returning", "resurrecting", "dormant"}``;
- ``top_events`` / ``top_pages`` / ``top_referrers``: ``{"limit"?: 10}`` -> ``results``
  ``[{"value", "events", "persons"}]`` and ``total`` ``{"events", "persons"}``.

Buckets are ISO 8601 local starts with the project's offset, as in trends.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rest_framework import serializers

from analytics.core.timeutils import utc_now
from analytics.query.compiler.active_users import MONTH_DAYS, compile_active_users
from analytics.query.compiler.lifecycle import STATUSES, compile_lifecycle
from analytics.query.compiler.revenue import compile_revenue, compile_revenue_breakdown
from analytics.query.compiler.stickiness import compile_stickiness
from analytics.query.compiler.top_lists import TOP_KINDS, compile_top
from analytics.query.model import INTERVALS, MAX_BREAKDOWN_LIMIT, MAX_POINTS, DateRange, Filter
from analytics.query.serializers import FilterField
from analytics.query.timerange import RangeError, count_buckets, floor_bucket, iter_buckets, parse_moment
from analytics.warehouse.store import EventStore, get_store

CALENDAR_INTERVALS = ("day", "week", "month")
MAX_TOP_LIMIT = 100
MAX_DAYS = 3660


@dataclass(frozen=True)
class PresetQuery:
    kind: str
    start: datetime
    end: datetime
    time_zone: str
    event: str | None = None
    filters: Filter | None = None
    interval: str = "day"
    limit: int = 10
    revenue_property: str = "$revenue"
    breakdown: str | None = None
    breakdown_limit: int = 10

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class PresetBreakdownSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, trim_whitespace=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_BREAKDOWN_LIMIT, default=10)


class PresetQuerySerializer(serializers.Serializer):
    """The fields every preset takes; context ``{"time_zone", "now", "kind"}``."""

    date_from = serializers.CharField(max_length=64, default="-30d")
    date_to = serializers.CharField(max_length=64, required=False, allow_null=True)
    event = serializers.CharField(max_length=200, required=False, allow_null=True, trim_whitespace=False)
    filters = FilterField(required=False, allow_null=True)
    default_event: str | None = None
    max_buckets = MAX_POINTS

    def get_fields(self) -> dict[str, serializers.Field]:
        # "from" is a Python keyword, so the fields are declared as date_from/date_to and renamed here.
        fields = super().get_fields()
        fields["from"] = fields.pop("date_from")
        fields["to"] = fields.pop("date_to")
        return fields

    def _range(self, attrs: dict[str, Any]) -> tuple[datetime, datetime]:
        zone, now = ZoneInfo(self.context["time_zone"]), self.context["now"]
        try:
            end = parse_moment(attrs["to"], zone, now, is_end=True) if attrs.get("to") else now
        except RangeError as error:
            raise serializers.ValidationError({"to": [str(error)]}) from None
        try:
            start = parse_moment(attrs["from"], zone, now, is_end=False)
        except RangeError as error:
            raise serializers.ValidationError({"from": [str(error)]}) from None
        if start >= end:
            raise serializers.ValidationError({"from": ["from must be before to"]})
        return start, end

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = self._range(attrs)
        interval = attrs.get("interval", "day")
        zone = ZoneInfo(self.context["time_zone"])
        buckets = count_buckets(DateRange(start, end), interval, zone, stop_after=self.max_buckets)
        if buckets > self.max_buckets:
            raise serializers.ValidationError(
                {"from": [f"at most {self.max_buckets} {interval} buckets; use a shorter range or a larger interval"]}
            )
        event = attrs.get("event", self.default_event)
        names = {"interval": "interval", "limit": "limit", "property": "revenue_property"}
        extra = {field: attrs[key] for key, field in names.items() if attrs.get(key) is not None}
        breakdown = attrs.get("breakdown")
        if breakdown:
            extra.update(breakdown=breakdown["key"], breakdown_limit=breakdown["limit"])
        query = PresetQuery(
            kind=self.context["kind"],
            start=start,
            end=end,
            time_zone=self.context["time_zone"],
            event=event,
            filters=attrs.get("filters"),
            **extra,
        )
        return {"query": query}


class ActiveUsersQuerySerializer(PresetQuerySerializer):
    max_buckets = MAX_DAYS


class RevenueQuerySerializer(PresetQuerySerializer):
    interval = serializers.ChoiceField(choices=list(INTERVALS), default="day")
    property = serializers.CharField(max_length=200, default="$revenue", trim_whitespace=False)
    breakdown = PresetBreakdownSerializer(required=False, allow_null=True)
    max_buckets = MAX_POINTS // 3


class CalendarQuerySerializer(PresetQuerySerializer):
    interval = serializers.ChoiceField(choices=list(CALENDAR_INTERVALS), default="day")
    max_buckets = MAX_DAYS


class TopQuerySerializer(PresetQuerySerializer):
    limit = serializers.IntegerField(min_value=1, max_value=MAX_TOP_LIMIT, default=10)
    max_buckets = 40 * 366  # the range is one bucket here; this only bounds how far back


class PageviewTopQuerySerializer(TopQuerySerializer):
    default_event = "$pageview"


# ---------------------------------------------------------------------------------------
# Answers
# ---------------------------------------------------------------------------------------


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _iso_day(day: date, zone: ZoneInfo) -> str:
    return datetime.combine(day, time(0), tzinfo=zone).isoformat()


def _envelope(query: PresetQuery, **answer: Any) -> dict[str, Any]:
    return {
        "kind": query.kind,
        **answer,
        "from": query.start.astimezone(query.zone).isoformat(),
        "to": query.end.astimezone(query.zone).isoformat(),
        "time_zone": query.time_zone,
        "computed_at": utc_now().isoformat(),
        "source": "events",
    }


def _last_moment_day(query: PresetQuery) -> date:
    return (query.end - timedelta(milliseconds=1)).astimezone(query.zone).date()


def run_active_users(project_id: int, query: PresetQuery, store: EventStore) -> dict[str, Any]:
    zone = query.zone
    first_day, last_day = query.start.astimezone(zone).date(), _last_moment_day(query)
    scan_first = first_day - timedelta(days=MONTH_DAYS - 1)
    compiled = compile_active_users(
        project_id=project_id,
        time_zone=query.time_zone,
        scan_start=_local_midnight(scan_first, zone),
        scan_end=_local_midnight(last_day + timedelta(days=1), zone),
        first_day=scan_first,
        last_day=last_day,
        event=query.event,
        filters=query.filters,
    )
    steps = {int(row["day_number"]): row for row in store.query(compiled).dicts()}
    epoch = date(1970, 1, 1)
    running = {"dau_step": 0, "wau_step": 0, "mau_step": 0}
    points, day = [], scan_first
    while day <= last_day:
        for name, step in steps.get((day - epoch).days, {}).items():
            if name in running:
                running[name] += int(step)
        if day >= first_day:
            dau, wau, mau = running["dau_step"], running["wau_step"], running["mau_step"]
            stickiness = dau / mau if mau else None
            points.append({"bucket": _iso_day(day, zone), "dau": dau, "wau": wau, "mau": mau, "stickiness": stickiness})
        day += timedelta(days=1)
    return _envelope(query, interval="day", event=query.event, points=points)


def _bucket_starts(query: PresetQuery) -> list[int]:
    return [
        int(bucket.timestamp())
        for bucket in iter_buckets(DateRange(query.start, query.end), query.interval, query.zone)
    ]


def _per_paying(revenue: float, paying: int) -> float | None:
    return revenue / paying if paying else None


def _revenue_breakdown(project_id: int, query: PresetQuery, store: EventStore) -> list[dict[str, Any]]:
    assert query.breakdown is not None
    compiled = compile_revenue_breakdown(
        project_id=project_id,
        start=query.start,
        end=query.end,
        prop=query.revenue_property,
        breakdown=query.breakdown,
        limit=query.breakdown_limit,
        event=query.event,
        filters=query.filters,
    )
    rows = []
    for row in store.query(compiled).dicts():
        is_top, revenue, paying = bool(row["is_top"]), float(row["revenue"] or 0), int(row["paying"])
        rows.append(
            {
                "value": (row["value"] or None) if is_top else "$other",
                "is_other": not is_top,
                "revenue": revenue,
                "paying_users": paying,
                "revenue_per_paying_user": _per_paying(revenue, paying),
            }
        )
    return rows


def run_revenue(project_id: int, query: PresetQuery, store: EventStore) -> dict[str, Any]:
    compiled = compile_revenue(
        project_id=project_id,
        time_zone=query.time_zone,
        start=query.start,
        end=query.end,
        interval=query.interval,
        prop=query.revenue_property,
        event=query.event,
        filters=query.filters,
    )
    epochs = _bucket_starts(query)
    revenue: dict[int, float] = {}
    paying: dict[int, int] = {}
    total_revenue, total_paying = 0.0, 0
    for row in store.query(compiled).dicts():
        if row["bucket"] is None:
            total_revenue, total_paying = float(row["revenue"] or 0), int(row["paying"])
            continue
        index = bisect_right(epochs, int(row["bucket"])) - 1  # a bucket start on a DST gap: its holder
        if index >= 0:
            key = epochs[index]
            revenue[key] = revenue.get(key, 0.0) + float(row["revenue"] or 0)
            paying[key] = paying.get(key, 0) + int(row["paying"])
    zone = query.zone

    def line(label: str, value: Callable[[int], Any], total: Any) -> dict[str, Any]:
        points = [{"bucket": datetime.fromtimestamp(e, tz=zone).isoformat(), "value": value(e)} for e in epochs]
        return {"label": label, "points": points, "total": total}

    series = [
        line("revenue", lambda e: revenue.get(e, 0.0), total_revenue),
        line("paying_users", lambda e: paying.get(e, 0), total_paying),
        line(
            "revenue_per_paying_user",
            lambda e: _per_paying(revenue.get(e, 0.0), paying.get(e, 0)),
            _per_paying(total_revenue, total_paying),
        ),
    ]
    breakdown = _revenue_breakdown(project_id, query, store) if query.breakdown else None
    return _envelope(
        query,
        interval=query.interval,
        event=query.event,
        property=query.revenue_property,
        series=series,
        breakdown=breakdown,
    )


def run_stickiness(project_id: int, query: PresetQuery, store: EventStore) -> dict[str, Any]:
    compiled = compile_stickiness(
        project_id=project_id,
        time_zone=query.time_zone,
        start=query.start,
        end=query.end,
        interval=query.interval,
        event=query.event,
        filters=query.filters,
    )
    counts = {int(row["active"]): int(row["person_count"]) for row in store.query(compiled).dicts()}
    buckets = len(_bucket_starts(query))
    points = [{"active": n, "persons": counts.get(n, 0)} for n in range(1, buckets + 1)]
    return _envelope(
        query, interval=query.interval, event=query.event, buckets=buckets, points=points, persons=sum(counts.values())
    )


def _shift(day: date, interval: str, steps: int) -> date:
    if interval == "day":
        return day + timedelta(days=steps)
    if interval == "week":
        return day + timedelta(days=7 * steps)
    year, month = divmod(day.year * 12 + day.month - 1 + steps, 12)
    return date(year, month + 1, 1)


def run_lifecycle(project_id: int, query: PresetQuery, store: EventStore) -> dict[str, Any]:
    zone = query.zone
    first = floor_bucket(query.start, query.interval, zone).astimezone(zone).date()
    last = floor_bucket(query.end - timedelta(milliseconds=1), query.interval, zone).astimezone(zone).date()
    compiled = compile_lifecycle(
        project_id=project_id,
        time_zone=query.time_zone,
        interval=query.interval,
        scan_start=_local_midnight(_shift(first, query.interval, -1), zone),
        scan_end=_local_midnight(_shift(last, query.interval, 1), zone),
        first_bucket=first,
        last_bucket=last,
        event=query.event,
        filters=query.filters,
    )
    counts: dict[date, dict[str, int]] = {}
    for row in store.query(compiled).dicts():
        counts.setdefault(row["bucket"], {})[str(row["status"])] = int(row["person_count"])
    points, bucket = [], first
    while bucket <= last:
        found = counts.get(bucket, {})
        points.append({"bucket": _iso_day(bucket, zone), **{status: found.get(status, 0) for status in STATUSES}})
        bucket = _shift(bucket, query.interval, 1)
    return _envelope(query, interval=query.interval, event=query.event, points=points)


def run_top(project_id: int, query: PresetQuery, store: EventStore) -> dict[str, Any]:
    compiled = compile_top(
        kind=query.kind,
        project_id=project_id,
        start=query.start,
        end=query.end,
        event=query.event,
        filters=query.filters,
        limit=query.limit,
    )
    total = {"events": 0, "persons": 0}
    results = []
    for row in store.query(compiled).dicts():
        entry = {"events": int(row["event_count"]), "persons": int(row["person_count"])}
        if row["value"] is None:
            total = entry
        else:
            results.append({"value": row["value"], **entry})
    return _envelope(query, event=query.event, limit=query.limit, results=results[: query.limit], total=total)


@dataclass(frozen=True)
class Preset:
    kind: str
    path: str  # the URL segment under /insights/
    title: str
    serializer: type[PresetQuerySerializer]
    runner: Callable[[int, PresetQuery, EventStore], dict[str, Any]]


PRESETS: dict[str, Preset] = {
    preset.kind: preset
    for preset in (
        Preset("active_users", "active-users", "Active users", ActiveUsersQuerySerializer, run_active_users),
        Preset("revenue", "revenue", "Revenue", RevenueQuerySerializer, run_revenue),
        Preset("stickiness", "stickiness", "Stickiness", CalendarQuerySerializer, run_stickiness),
        Preset("lifecycle", "lifecycle", "Lifecycle", CalendarQuerySerializer, run_lifecycle),
        Preset("top_events", "top-events", "Top events", TopQuerySerializer, run_top),
        Preset("top_pages", "top-pages", "Top pages", PageviewTopQuerySerializer, run_top),
        Preset("top_referrers", "top-referrers", "Top referrers", PageviewTopQuerySerializer, run_top),
    )
}
PRESET_KINDS = tuple(PRESETS)
assert set(TOP_KINDS) <= set(PRESETS)


def validate_preset(kind: str, data: Any, *, time_zone: str, now: datetime | None = None) -> PresetQuery:
    """The validated query of a preset (raises DRF ValidationError naming the field)."""
    serializer = PRESETS[kind].serializer(
        data=data, context={"time_zone": time_zone, "now": now or utc_now(), "kind": kind}
    )
    serializer.is_valid(raise_exception=True)
    query: PresetQuery = serializer.validated_data["query"]
    return query


def run_preset(*, project_id: int, query: PresetQuery, store: EventStore | None = None) -> dict[str, Any]:
    """Answer a preset query for one project (the caller has checked the user may read it)."""
    return PRESETS[query.kind].runner(project_id, query, store or get_store())
