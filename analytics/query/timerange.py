"""Date ranges and buckets in the project's time zone.

Ranges are half-open ``[start, end)`` of aware UTC datetimes. ``from``/``to`` take:

- ISO 8601 with an offset (``2026-03-29T10:00:00+02:00``, ``...Z``): that instant;
- ISO 8601 without an offset (``2026-03-29T10:00``): wall-clock time in the project's zone;
- a date (``2026-03-29``): local midnight of that day as ``from``; as ``to`` the day is
  included (local midnight of the next day);
- relative: ``-24h`` (now minus 24 hours), ``-7d`` / ``-2w`` (local midnight N days or
  weeks before today: ``-7d`` with day buckets is 7 full days and today so far), ``-3m`` /
  ``-1y`` (local midnight of the same day N months or years ago, clamped to the month's
  end), ``mtd`` and ``ytd`` (local midnight of the month's or year's first day); as ``to``
  the same forms; ``from: "all"`` means from the project's first event (the runner looks
  it up). Without ``to``: now.

Buckets start at ``toStartOfMinute/Hour/Day``, ``toMonday`` (ISO weeks) or
``toStartOfMonth`` in the project's zone, so a day bucket across a daylight-saving change
lasts 23 or 25 hours and every bucket starts at local midnight. Minute and hour buckets
step in absolute time (a 25-hour day has 25 hour buckets).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from analytics.query.model import DateRange

_RELATIVE = re.compile(r"^-(\d{1,5})([hdwmy])$")


class RangeError(ValueError):
    """A ``from``/``to`` that cannot be understood; the message is for the API client."""


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    if year < 1:
        raise RangeError("too far back")
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _relative(text: str, zone: ZoneInfo, now: datetime) -> datetime | None:
    today = now.astimezone(zone).date()
    if text == "mtd":
        return _local_midnight(today.replace(day=1), zone)
    if text == "ytd":
        return _local_midnight(date(today.year, 1, 1), zone)
    match = _RELATIVE.match(text)
    if not match:
        return None
    amount, unit = int(match.group(1)), match.group(2)
    try:
        if unit == "h":
            return now - timedelta(hours=amount)
        if unit in ("d", "w"):
            return _local_midnight(today - timedelta(days=amount * (7 if unit == "w" else 1)), zone)
        return _local_midnight(_months_back(today, amount * (12 if unit == "y" else 1)), zone)
    except (OverflowError, ValueError):
        raise RangeError("too far back") from None


def parse_moment(text: str, zone: ZoneInfo, now: datetime, *, is_end: bool) -> datetime:
    """One end of a range as an aware UTC datetime; raises RangeError."""
    text = text.strip()
    relative = _relative(text, zone, now)
    if relative is not None:
        return relative
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return _local_midnight(day + timedelta(days=1) if is_end else day, zone)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, OverflowError):
        raise RangeError(
            "must be ISO 8601 (2026-03-29, 2026-03-29T10:00:00Z) or relative (-24h, -7d, -3m, mtd, ytd)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def floor_bucket(moment: datetime, interval: str, zone: ZoneInfo) -> datetime:
    """The start (aware UTC) of the bucket holding ``moment``, aligned in ``zone``."""
    local = moment.astimezone(zone)
    if interval == "minute":
        return local.replace(second=0, microsecond=0).astimezone(UTC)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    return _local_midnight(day, zone)


def _next_bucket(start: datetime, interval: str, zone: ZoneInfo) -> datetime:
    if interval == "minute":
        return start + timedelta(minutes=1)
    if interval == "hour":
        return start + timedelta(hours=1)
    day = start.astimezone(zone).date()
    if interval == "day":
        return _local_midnight(day + timedelta(days=1), zone)
    if interval == "week":
        return _local_midnight(day + timedelta(days=7), zone)
    year, month = divmod(day.year * 12 + day.month, 12)
    return _local_midnight(date(year, month + 1, 1), zone)


def iter_buckets(date_range: DateRange, interval: str, zone: ZoneInfo) -> Iterator[datetime]:
    """Bucket starts (aware UTC) covering the range, the first one aligned at or before its start."""
    bucket = floor_bucket(date_range.start, interval, zone)
    while bucket < date_range.end:
        yield bucket
        bucket = _next_bucket(bucket, interval, zone)


def count_buckets(date_range: DateRange, interval: str, zone: ZoneInfo, *, stop_after: int) -> int:
    """How many buckets the range has, counting no further than ``stop_after`` + 1."""
    count = 0
    for _ in iter_buckets(date_range, interval, zone):
        count += 1
        if count > stop_after:
            break
    return count


def previous_range(date_range: DateRange, zone: ZoneInfo) -> DateRange:
    """The period of equal length just before ``date_range``.

    When both ends are local midnights the shift is in calendar days (a week across a
    daylight-saving change stays seven local days); otherwise it is the absolute duration.
    """
    start_local, end_local = date_range.start.astimezone(zone), date_range.end.astimezone(zone)
    if start_local.time() == time(0) and end_local.time() == time(0):
        days = (end_local.date() - start_local.date()).days
        return DateRange(_local_midnight(start_local.date() - timedelta(days=days), zone), date_range.start)
    return DateRange(date_range.start - (date_range.end - date_range.start), date_range.start)
