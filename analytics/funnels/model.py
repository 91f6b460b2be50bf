"""The typed funnel and paths queries, built only by ``serializers.py`` (which validates).

See ``analytics/funnels/__init__.py`` for the semantics these values take on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from analytics.query.model import Filter

MIN_STEPS = 2
MAX_STEPS = 20
MAX_WINDOW_SECONDS = 90 * 24 * 3600
MAX_EVENTS_PER_STEP = 20
MAX_BREAKDOWN_LIMIT = 50
ORDERS = ("ordered", "strict", "unordered")
ATTRIBUTIONS = ("first_touch", "last_touch", "step")

Order = Literal["ordered", "strict", "unordered"]


@dataclass(frozen=True)
class Step:
    events: tuple[str, ...]  # any of these event names
    filters: Filter | None = None
    name: str | None = None

    def label(self) -> str:
        return self.name or " or ".join(self.events)


@dataclass(frozen=True)
class Exclusion:
    """An event that voids an attempt when it happens between steps ``from_step`` and ``to_step`` (0-based)."""

    events: tuple[str, ...]
    from_step: int
    to_step: int
    filters: Filter | None = None


@dataclass(frozen=True)
class FunnelBreakdown:
    key: str
    type: str = "event"  # event | person (the person's latest properties; attribution does not apply)
    attribution: str = "first_touch"  # first_touch | last_touch | step
    step: int | None = None  # 0-based, with attribution "step"
    limit: int = 10


@dataclass(frozen=True)
class SegmentFilter:
    segment_id: int
    negate: bool = False


@dataclass(frozen=True)
class FunnelQuery:
    steps: tuple[Step, ...]
    window_seconds: int
    order: str
    date_from: datetime
    date_to: datetime
    time_zone: str
    exclusions: tuple[Exclusion, ...] = ()
    breakdown: FunnelBreakdown | None = None
    segment: SegmentFilter | None = None
    filters: Filter | None = None

    @property
    def window_ms(self) -> int:
        return self.window_seconds * 1000


MAX_PATH_DEPTH = 10
MAX_PATH_EDGES = 50


@dataclass(frozen=True)
class PathsQuery:
    """Paths after ``start`` or before ``end`` (exactly one of them), ``depth`` steps."""

    date_from: datetime
    date_to: datetime
    time_zone: str
    start: Step | None = None
    end: Step | None = None
    depth: int = 5
    edges_per_step: int = 10
    path_type: str = "event"  # event | url (pageview URLs)
    window_seconds: int = 24 * 3600
    filters: Filter | None = None
    segment: SegmentFilter | None = None
    exclude_events: tuple[str, ...] = ()  # left out of paths (unless the anchor)
