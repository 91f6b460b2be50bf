"""The size history's back-fill: the sizes of past days, computed from the events.

A refresh records the size of the day it runs on (``services._record_size``). The other
days of the last 90 (UTC), before the segment existed or when no refresh ran, are
back-filled: the size as of the day's end (00:00 UTC of the next day), computed from the
events before that moment with the definition the segment has now
(``compile_members(as_of=True)``). Person properties, and the static segments a
definition names, are today's: neither keeps a history. A static segment is not
back-filled: its members are its uploaded list.

The beat task ``segments_history_backfill`` (every 5 minutes) spends at most
``SEGMENT_HISTORY_BUDGET_SECONDS`` per run over every segment, the newest missing day
first, and saves each day as soon as it is computed, so a long back-fill shows its
progress (``missing_days`` of the sizes API) and the next run resumes it. Days that end
before the project's first event are 0 without a query. A recorded day is never
overwritten. A new definition deletes the history (``services.segment_update``); a
back-fill that computed a day with the old one does not save it: the definition check and
the insert are one transaction holding the segment's row lock.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from analytics.query.membership import SegmentMissing
from analytics.query.runner import first_event_at
from analytics.segments.models import Segment, SegmentSize
from analytics.segments.selectors import history_days, segment_size_compute
from analytics.warehouse.store import EventStore, get_store

log = get_logger(__name__)


def day_end(day: date) -> datetime:
    """The moment a day's back-filled size is computed as of: the next day's 00:00 UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)


def missing_days(segment: Segment, today: date) -> list[date]:
    """The past days of the history without a size, newest first (today is the refresh's)."""
    past = history_days(today)[:-1]
    have = set(SegmentSize.objects.filter(segment=segment, day__gte=past[0]).values_list("day", flat=True))
    return [day for day in reversed(past) if day not in have]


def _save(segment: Segment, definition: Any, day: date, size: int) -> bool:
    """Keep a back-filled size unless the segment was deleted or got a new definition
    meanwhile (False: stop this segment's back-fill) or the day was recorded meanwhile."""
    with transaction.atomic():
        current = Segment.objects.select_for_update().filter(id=segment.id).values_list("definition", flat=True)
        if not current or current[0] != definition:
            return False
        SegmentSize.objects.get_or_create(
            segment_id=segment.id, day=day, defaults={"size": size, "computed_at": utc_now(), "backfilled": True}
        )
    return True


def segment_history_backfill(
    *, segment: Segment, store: EventStore | None = None, today: date | None = None, deadline: float | None = None
) -> int:
    """Back-fill the segment's missing days, newest first, until ``deadline``
    (``time.monotonic()``); returns the days saved. Raises SegmentMissing when the segment
    (or one it names) was deleted."""
    if segment.is_static:
        return 0
    days = missing_days(segment, today or utc_now().date())
    if not days:
        return 0
    store = store or get_store()
    first = first_event_at(store, segment.project_id)
    definition = segment.definition
    saved = 0
    for day in days:
        if deadline is not None and time.monotonic() >= deadline:
            break
        end = day_end(day)
        if first is None or end <= first:
            size = 0  # no event before the day's end: nobody is in the universe yet
        else:
            size = segment_size_compute(segment=segment, store=store, now=end, as_of=True)
        if not _save(segment, definition, day, size):
            break
        saved += 1
    return saved


def segments_history_backfill_due(
    *, store: EventStore | None = None, today: date | None = None, budget_seconds: float | None = None
) -> dict[str, int]:
    """One run of the beat task: back-fill the dynamic segments with missing days, oldest
    segment first, within the budget. A segment that fails is logged and left for the next run."""
    budget = settings.SEGMENT_HISTORY_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    done = {"segments": 0, "days": 0, "failed": 0}
    if budget <= 0:
        return done
    deadline = time.monotonic() + budget
    today = today or utc_now().date()
    past = history_days(today)[:-1]
    in_window = Q(sizes__day__gte=past[0], sizes__day__lte=past[-1])
    candidates = (
        Segment.objects.filter(is_static=False)
        .annotate(have=Count("sizes", filter=in_window))
        .filter(have__lt=len(past))
        .order_by("id")
    )
    for segment in candidates:
        if time.monotonic() >= deadline:
            break
        try:
            saved = segment_history_backfill(segment=segment, store=store, today=today, deadline=deadline)
        except SegmentMissing:
            continue  # deleted meanwhile (or a segment it names): nothing to keep
        except Exception as error:
            done["failed"] += 1
            log.warning(
                "segments.history_backfill_failed",
                segment_id=segment.id,
                error=f"{type(error).__name__}: {error}"[:300],
            )
            continue
        done["segments"] += 1 if saved else 0
        done["days"] += saved
    if done["days"] or done["failed"]:
        log.info("segments.history_backfilled", **done)
    return done
