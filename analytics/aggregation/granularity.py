"""Bucket sizes and their boundaries, in Python and in ClickHouse SQL.

Both sides must agree on every boundary, so each granularity is defined once here:
1m, 5m and 1h buckets are aligned to UTC (equal to local time for every zone with a
whole-hour offset); 1d and 1mo buckets start at local midnight in the project's time
zone, so a day across a daylight-saving change lasts 23 or 25 hours. Bucket starts are
stored and exchanged as aware UTC datetimes (ClickHouse returns epoch seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class Granularity(StrEnum):
    MINUTE = "1m"
    FIVE_MINUTES = "5m"
    HOUR = "1h"
    DAY = "1d"
    MONTH = "1mo"

    @property
    def fixed_seconds(self) -> int | None:
        """Length of a bucket if it is fixed (UTC-aligned); None for local days and months."""
        return _FIXED_SECONDS.get(self)


_FIXED_SECONDS = {Granularity.MINUTE: 60, Granularity.FIVE_MINUTES: 300, Granularity.HOUR: 3600}

# At most this many buckets per run, so a stream that starts far behind (a new project with
# history, a long outage) catches up in bounded steps instead of one enormous query.
MAX_BUCKETS_PER_RUN = {
    Granularity.MINUTE: 24 * 60,
    Granularity.FIVE_MINUTES: 7 * 24 * 12,
    Granularity.HOUR: 31 * 24,
    Granularity.DAY: 92,
    Granularity.MONTH: 24,
}

GRANULARITY_CHOICES = [(granularity.value, granularity.value) for granularity in Granularity]


def bucket_floor(moment: datetime, granularity: Granularity, tz_name: str) -> datetime:
    """Start (aware UTC) of the bucket that contains ``moment``."""
    moment = moment.astimezone(UTC)
    seconds = granularity.fixed_seconds
    if seconds is not None:
        epoch = int(moment.timestamp())
        return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)
    local = moment.astimezone(ZoneInfo(tz_name))
    if granularity is Granularity.DAY:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    else:
        start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    return _local_midnight(start, tz_name)


def bucket_next(start: datetime, granularity: Granularity, tz_name: str) -> datetime:
    """Start of the bucket after the one starting at ``start`` (a bucket boundary)."""
    seconds = granularity.fixed_seconds
    if seconds is not None:
        return start + timedelta(seconds=seconds)
    local = start.astimezone(ZoneInfo(tz_name)).replace(tzinfo=None)
    if granularity is Granularity.DAY:
        following = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        following = local.replace(year=year, month=month, day=1, hour=0, minute=0, second=0, microsecond=0)
    return _local_midnight(following, tz_name)


def bucket_ceil(moment: datetime, granularity: Granularity, tz_name: str) -> datetime:
    """The first bucket boundary at or after ``moment``."""
    start = bucket_floor(moment, granularity, tz_name)
    return start if start == moment.astimezone(UTC) else bucket_next(start, granularity, tz_name)


def bucket_add(start: datetime, granularity: Granularity, tz_name: str, count: int) -> datetime:
    """The boundary ``count`` buckets after ``start``."""
    seconds = granularity.fixed_seconds
    if seconds is not None:
        return start + timedelta(seconds=seconds * count)
    for _ in range(count):
        start = bucket_next(start, granularity, tz_name)
    return start


def _local_midnight(local_naive: datetime, tz_name: str) -> datetime:
    # Midnight exists in every IANA zone on the dates we use except a few historical
    # jumps; fold=0 picks the first occurrence, as ClickHouse's toStartOfDay does.
    return local_naive.replace(tzinfo=ZoneInfo(tz_name)).astimezone(UTC)


def clickhouse_bucket_expression(granularity: Granularity, column: str = "timestamp") -> str:
    """SQL for the bucket start as epoch seconds; the zone is the ``{tz:String}`` parameter.

    ``column`` is one of our own column names, never user input.
    """
    if granularity is Granularity.MINUTE:
        return f"toUnixTimestamp(toStartOfMinute({column}))"
    if granularity is Granularity.FIVE_MINUTES:
        return f"toUnixTimestamp(toStartOfFiveMinutes({column}))"
    if granularity is Granularity.HOUR:
        return f"toUnixTimestamp(toStartOfHour({column}))"
    if granularity is Granularity.DAY:
        return f"toUnixTimestamp(toStartOfDay({column}, {{tz:String}}))"
    return f"toUnixTimestamp(toDateTime(toStartOfMonth({column}, {{tz:String}}), {{tz:String}}))"
