"""The typed query model: filters, date ranges, series, breakdowns, trends queries.

Plain frozen dataclasses, built only by the serializers (``serializers.py``), which do all
validation; the compilers may therefore trust every value here. Times are aware UTC
datetimes; the project's time zone travels with the query as an IANA name.

Filters have one JSON shape everywhere:

- a condition ``{"key": "plan", "type": "event", "operator": "eq", "value": "pro"}``;
- a group ``{"op": "and"|"or", "conditions": [...]}`` (groups nest);
- a bare list of conditions or groups, which means AND.

Condition types: ``event`` (event name, event properties, the hot and derived columns of
``compiler.filters``), ``person`` (properties of the event's person, latest version, not
deleted) and ``segment`` (``{"type": "segment", "key": "id", "operator": "in"|"not_in"|"eq"|
"neq", "value": <segment id>}``: membership of the event's person in a segment) and, in
trends only, ``session`` (an attribute of the event's session, :data:`SESSION_KEYS`: the
event matches when its session does). See docs/query.md for the full reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Operator = Literal[
    "eq",
    "neq",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "regex",
    "not_regex",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "is_set",
    "is_not_set",
]
OPERATORS: tuple[str, ...] = Operator.__args__  # type: ignore[attr-defined]
NEGATIVE_OPERATORS = frozenset({"neq", "not_in", "not_contains", "not_regex", "is_not_set"})

Interval = Literal["minute", "hour", "day", "week", "month"]
INTERVALS: tuple[str, ...] = Interval.__args__  # type: ignore[attr-defined]

Math = Literal[
    "total",
    "unique_users",
    "unique_distinct_ids",
    "unique_sessions",
    "avg_per_user",
    "min_per_user",
    "max_per_user",
    "median_per_user",
    "sum",
    "avg",
    "min",
    "max",
    "p50",
    "p75",
    "p90",
    "p95",
    "p99",
]
MATHS: tuple[str, ...] = Math.__args__  # type: ignore[attr-defined]
PROPERTY_MATHS = frozenset({"sum", "avg", "min", "max", "p50", "p75", "p90", "p95", "p99"})
# Statistics of the number of events each person has in a bucket (persons with none left out).
PER_USER_MATHS = frozenset({"avg_per_user", "min_per_user", "max_per_user", "median_per_user"})
SEGMENT_OPERATORS = frozenset({"in", "not_in", "eq", "neq"})
# A segment breakdown's two values: the events of the segment's members, and the others.
SEGMENT_BREAKDOWN_VALUES = ("in", "not_in")

# Session attributes for ``session`` filters and breakdowns (trends): key -> (the column of
# ``compiler/sessions.py``'s one row per session it reads, how it is read). ``text`` is a
# string where empty means not set; ``number`` and ``boolean`` are always set; ``pathname``
# and ``domain`` are the path / host of a URL column (as ``$pathname`` and
# ``$referring_domain``); ``duration_bucket`` is the label of :data:`SESSION_DURATION_BUCKETS`.
SESSION_KEYS: dict[str, tuple[str, str]] = {
    "duration_seconds": ("duration_seconds", "number"),
    "event_count": ("event_count", "number"),
    "pageviews": ("pageviews", "number"),
    "is_bounce": ("is_bounce", "boolean"),
    "entry_url": ("entry_url", "text"),
    "exit_url": ("exit_url", "text"),
    "$entry_pathname": ("entry_url", "pathname"),
    "$exit_pathname": ("exit_url", "pathname"),
    "referrer": ("referrer", "text"),
    "$entry_referring_domain": ("referrer", "domain"),
    "utm_source": ("utm_source", "text"),
    "utm_medium": ("utm_medium", "text"),
    "utm_campaign": ("utm_campaign", "text"),
    "country": ("country", "text"),
    "browser": ("browser", "text"),
    "os": ("os", "text"),
    "device_type": ("device_type", "text"),
    "$session_duration_bucket": ("duration_seconds", "duration_bucket"),
}
# The duration buckets: (label, upper bound in seconds, exclusive); the last has none.
SESSION_DURATION_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("0-10s", 10),
    ("10-60s", 60),
    ("1-3m", 180),
    ("3-10m", 600),
    ("10-30m", 1800),
    ("30m+", None),
)

MAX_SERIES = 20
MAX_POINTS = 10_000
MAX_BREAKDOWN_LIMIT = 50

# A JSON scalar as a filter value (lists only for in/not_in/between).
Scalar = str | int | float | bool


@dataclass(frozen=True)
class Condition:
    key: str
    operator: str
    value: Any = None
    type: str = "event"


@dataclass(frozen=True)
class Group:
    op: Literal["and", "or"]
    conditions: tuple[Filter, ...]


Filter = Condition | Group


@dataclass(frozen=True)
class DateRange:
    """A half-open range [start, end) of aware UTC datetimes."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Series:
    event: str | None  # None: every event
    math: str = "total"
    property: str | None = None
    filters: Filter | None = None
    name: str | None = None

    def label(self) -> str:
        if self.name:
            return self.name
        base = self.event if self.event is not None else "all events"
        if self.math == "total":
            return base
        if self.property is not None:
            return f"{base} {self.math}({self.property})"
        return f"{base} {self.math}"


@dataclass(frozen=True)
class Breakdown:
    """A property to split by (``event``, ``person``, ``session``), or ``segment``: ``key`` is
    a segment id and the values are :data:`SEGMENT_BREAKDOWN_VALUES`."""

    key: str
    type: str = "event"
    limit: int = 10


@dataclass(frozen=True)
class Formula:
    """``A / B * 100``: ``text`` as given, ``tree`` the checked syntax tree (see ``formula.py``)."""

    text: str
    tree: Any = field(compare=False, hash=False)


@dataclass(frozen=True)
class TrendsQuery:
    series: tuple[Series, ...]
    interval: str
    date_from: datetime | None  # None: "all", from the project's first event (the runner looks it up)
    date_to: datetime
    time_zone: str
    filters: Filter | None = None
    breakdown: Breakdown | None = None
    compare: bool = False
    formula: Formula | None = None
    # The project's session rules (``compiler/sessions.py``), for the ``unique_sessions`` math.
    session_timeout_minutes: int = 30
    session_split_at_midnight: bool = True

    def points_per_bucket(self) -> int:
        """Upper bound of the points one bucket contributes to the answer."""
        per_series = (self.breakdown.limit + 1) if self.breakdown else 1
        return len(self.series) * per_series * (2 if self.compare else 1)


@dataclass(frozen=True)
class TopValuesQuery:
    """The most frequent values of one event key in a range, with their event counts.

    ``key`` is read like a filter key (``event``, ``distinct_id``, a hot, derived or JSON
    property); events where it is not set are left out. Ordered by events, then value.
    """

    key: str
    date_range: DateRange
    limit: int
    event: str | None = None
    filters: Filter | None = None
