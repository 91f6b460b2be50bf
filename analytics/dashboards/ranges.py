"""The date range of a page, read from its URL (the URL is the page's state).

``?range=`` takes a preset: ``today``, ``yesterday``, ``24h``, ``7d`` (default), ``30d``,
``90d``, ``12m``, or ``custom`` with ``from`` and ``to`` as dates (``to`` included).
Days start at local midnight of the project's zone; ``7d`` is the six days before today
and today so far. ``compare=1`` adds the period of equal length just before.

The bucket follows the length: hours up to two days, days up to 120 days, else weeks.
A range the page cannot understand falls back to the default and says so (``error``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import QueryDict

from analytics.core.timeutils import utc_now
from analytics.query.model import DateRange
from analytics.query.timerange import RangeError, floor_bucket, parse_moment, previous_range

PRESETS: dict[str, str] = {
    "today": "Today",
    "yesterday": "Yesterday",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "12m": "Last 12 months",
    "custom": "Custom",
}
DEFAULT = "7d"
_DAYS = {"7d": 6, "30d": 29, "90d": 89}
MAX_CUSTOM_DAYS = 3660


@dataclass(frozen=True)
class PageRange:
    key: str
    start: datetime
    end: datetime
    interval: str
    compare: bool
    time_zone: str
    includes_now: bool
    error: str = ""
    first_day: str = ""
    last_day: str = ""

    @property
    def label(self) -> str:
        if self.key == "custom":
            return f"{self.first_day} \u2013 {self.last_day}"
        return PRESETS[self.key]

    @property
    def date_range(self) -> DateRange:
        return DateRange(self.start, self.end)

    def previous(self) -> DateRange:
        return previous_range(self.date_range, ZoneInfo(self.time_zone))

    def query_string(self, **changes: str) -> str:
        """This range (and compare) as URL parameters, with ``changes`` applied."""
        values = {"range": self.key}
        if self.key == "custom":
            values.update({"from": self.first_day, "to": self.last_day})
        if self.compare:
            values["compare"] = "1"
        values.update(changes)
        return urlencode({key: value for key, value in values.items() if value})


def _interval(start: datetime, end: datetime) -> str:
    length = end - start
    if length <= timedelta(days=2):
        return "hour"
    if length <= timedelta(days=120):
        return "day"
    return "week"


def _preset_bounds(key: str, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
    local_today = now.astimezone(zone).date()
    tomorrow = parse_moment(local_today.isoformat(), zone, now, is_end=True)
    if key == "today":
        return parse_moment(local_today.isoformat(), zone, now, is_end=False), tomorrow
    if key == "yesterday":
        day = (local_today - timedelta(days=1)).isoformat()
        return parse_moment(day, zone, now, is_end=False), parse_moment(day, zone, now, is_end=True)
    if key == "24h":
        end = floor_bucket(now, "hour", ZoneInfo("UTC")) + timedelta(hours=1)
        return end - timedelta(hours=24), end
    if key == "12m":
        return parse_moment("-12m", zone, now, is_end=False), tomorrow
    return parse_moment(f"-{_DAYS[key]}d", zone, now, is_end=False), tomorrow


def _custom(params: QueryDict, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime, str, str]:
    first, last = params.get("from", ""), params.get("to", "")
    try:
        first_day, last_day = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        raise RangeError("pick both dates of a custom range") from None
    if last_day < first_day:
        raise RangeError("the range ends before it starts")
    if (last_day - first_day).days > MAX_CUSTOM_DAYS:
        raise RangeError("a range may cover at most ten years")
    start = parse_moment(first_day.isoformat(), zone, now, is_end=False)
    end = parse_moment(last_day.isoformat(), zone, now, is_end=True)
    return start, end, first_day.isoformat(), last_day.isoformat()


def page_range(params: QueryDict, time_zone: str, *, now: datetime | None = None) -> PageRange:
    zone = ZoneInfo(time_zone)
    now = now or utc_now()
    key = params.get("range", DEFAULT)
    compare = params.get("compare") in ("1", "true", "on")
    error = ""
    first_day = last_day = ""
    if key not in PRESETS:
        key, error = DEFAULT, "unknown range; showing the last 7 days"
    try:
        if key == "custom":
            start, end, first_day, last_day = _custom(params, zone, now)
        else:
            start, end = _preset_bounds(key, zone, now)
    except RangeError as problem:
        key, error = DEFAULT, f"{problem}; showing the last 7 days"
        start, end = _preset_bounds(key, zone, now)
    if not first_day:
        first_day = start.astimezone(zone).date().isoformat()
        last_day = (end - timedelta(microseconds=1)).astimezone(zone).date().isoformat()
    return PageRange(
        key=key,
        start=start,
        end=end,
        interval=_interval(start, end),
        compare=compare,
        time_zone=time_zone,
        includes_now=start <= now < end,
        error=error,
        first_day=first_day,
        last_day=last_day,
    )
