"""The typed retention query, built only by ``serializers.py`` (which validates every value).

Times are aware UTC datetimes; the project's time zone travels with the query as an IANA
name. Filters reuse the query layer's filter model (``analytics.query.model``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from analytics.query.model import Filter

Period = Literal["day", "week", "month"]
PERIODS: tuple[str, ...] = Period.__args__  # type: ignore[attr-defined]
Mode = Literal["first_time", "recurring"]
MODES: tuple[str, ...] = Mode.__args__  # type: ignore[attr-defined]
Returning = Literal["on", "on_or_after"]
RETURNINGS: tuple[str, ...] = Returning.__args__  # type: ignore[attr-defined]

MAX_PERIODS = 52
MAX_COHORTS = 400
MAX_BREAKDOWN_LIMIT = 50
MAX_USERS_PAGE = 1000


@dataclass(frozen=True)
class EventSpec:
    """An event name with optional property filters (the query layer's filter shape)."""

    event: str
    filters: Filter | None = None


@dataclass(frozen=True)
class RetentionBreakdown:
    key: str
    type: Literal["event", "person"] = "event"
    limit: int = 10


@dataclass(frozen=True)
class SegmentCondition:
    """Restrict to the persons of a segment (``in``) or to everybody else (``not_in``)."""

    segment_id: int
    negated: bool = False


@dataclass(frozen=True)
class RetentionQuery:
    cohort_event: EventSpec
    return_event: EventSpec
    period: str
    periods: int  # the answer follows periods 0..periods: values has periods + 1 entries
    date_from: datetime
    date_to: datetime
    time_zone: str
    mode: str = "first_time"
    returning: str = "on"
    breakdown: RetentionBreakdown | None = None
    segment: SegmentCondition | None = None


@dataclass(frozen=True)
class Cell:
    """One cell of the table: the cohort starting at ``cohort_start`` (aware UTC), period ``k``."""

    cohort_start: datetime
    k: int
    breakdown_value: str | None = None  # None: every breakdown value; "$other": the rest
