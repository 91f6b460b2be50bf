"""Size limits of a query's answer, checked before any SQL runs."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from analytics.query.model import MAX_POINTS, DateRange, TrendsQuery
from analytics.query.timerange import count_buckets


def too_many_points(query: TrendsQuery, date_range: DateRange) -> str | None:
    """Why the answer could exceed MAX_POINTS points (buckets x series x breakdown x compare), or None."""
    per_bucket = query.points_per_bucket()
    allowed_buckets = MAX_POINTS // per_bucket
    buckets = count_buckets(date_range, query.interval, ZoneInfo(query.time_zone), stop_after=allowed_buckets)
    if buckets <= allowed_buckets:
        return None
    return (
        f"at most {MAX_POINTS} points per query: more than {allowed_buckets} {query.interval} buckets"
        f" x {per_bucket} lines; use a larger interval, a shorter range, fewer series or a smaller breakdown limit"
    )
