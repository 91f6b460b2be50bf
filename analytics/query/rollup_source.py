"""The rollup path: answer a trends series from the aggregation rollups when they are exact.

A series is answered from ``aggregation_rollup`` (the Django database) instead of raw
events only when the rollups hold exactly the same figure:

- math ``total`` (event counts add up across buckets and event names; unique users and
  percentiles do not, so every other math reads raw events);
- no filter (series or query) and no breakdown (rollups are per event name only);
- an interval the rollup buckets tile exactly: ``minute`` from ``1m``, ``hour`` from ``1h``
  when every hour bucket of the range starts on a UTC hour (rollup hours are UTC-aligned;
  a zone with a half-hour offset reads raw events), ``day`` and ``week`` from ``1d``,
  ``month`` from ``1mo`` (day and month rollups are in the project's time zone, so the
  query's zone must be the project's);
- a range whose both ends are bucket boundaries of the interval (a partial first or last
  bucket would count events outside the range);
- final buckets: the whole range lies before the stream's event-time watermark.

Otherwise :func:`rollup_counts` returns None and the caller reads raw events.
"""

from __future__ import annotations

from collections import defaultdict
from zoneinfo import ZoneInfo

from django.db.models import Sum

from analytics.aggregation.models import Rollup, Watermark
from analytics.query.model import DateRange, Series, TrendsQuery
from analytics.query.timerange import floor_bucket

GRANULARITY_OF_INTERVAL = {"minute": "1m", "hour": "1h", "day": "1d", "week": "1d", "month": "1mo"}
# Rollup granularities aligned to UTC: the local buckets must start on their UTC boundaries.
_UTC_ALIGNED_SECONDS = {"minute": 60, "hour": 3600}


def rollup_eligible(query: TrendsQuery, series: Series, date_range: DateRange, epochs: list[int]) -> bool:
    """Whether the query's shape alone allows the rollup path (no database access)."""
    if series.math != "total" or series.filters is not None or query.filters is not None:
        return False
    if query.breakdown is not None:
        return False
    zone = ZoneInfo(query.time_zone)
    for moment in (date_range.start, date_range.end):
        if floor_bucket(moment, query.interval, zone) != moment:
            return False
    step = _UTC_ALIGNED_SECONDS.get(query.interval)
    return step is None or all(epoch % step == 0 for epoch in epochs)


def rollup_counts(
    *, project_id: int, query: TrendsQuery, series: Series, date_range: DateRange, epochs: list[int]
) -> dict[int, int] | None:
    """Event counts per rollup bucket start (epoch seconds) in the range, or None when not exact."""
    if not rollup_eligible(query, series, date_range, epochs):
        return None
    granularity = GRANULARITY_OF_INTERVAL[query.interval]
    stream = Watermark.objects.filter(project_id=project_id, granularity=granularity)
    if granularity in ("1d", "1mo"):
        stream = stream.filter(project__timezone=query.time_zone)
    mark = stream.values_list("event_time_mark", flat=True).first()
    if mark is None or mark < date_range.end:
        return None
    rows = Rollup.objects.filter(
        project_id=project_id, granularity=granularity, bucket__gte=date_range.start, bucket__lt=date_range.end
    )
    if series.event is not None:
        rows = rows.filter(event=series.event)
    counts: dict[int, int] = defaultdict(int)
    for bucket, count in rows.values("bucket").annotate(events=Sum("count")).values_list("bucket", "events"):
        counts[int(bucket.timestamp())] += int(count)
    return counts
