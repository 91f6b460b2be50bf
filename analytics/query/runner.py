"""Runs compiled queries on the event store and shapes the answer.

``run_trends`` answers::

    {"series": [{"label", "event", "math", "property"?, "formula"?, "breakdown_value"?,
                 "is_other"?, "compare"?, "source", "points": [{"bucket", "value"}], "total"}],
     "interval", "from", "to", "time_zone", "computed_at", "source": "events"|"rollup"}

``bucket`` is the bucket's start in ISO 8601 with the project's offset at that moment
(``2026-03-29T00:00:00+01:00``, the next day ``...+02:00``); empty buckets are 0. With a
breakdown, each top value is a series (``breakdown_value`` null when the property is not
set), most voluminous first, then the rest as one series with ``is_other: true`` and
``breakdown_value: "$other"``; a segment breakdown has the values ``in`` and ``not_in``
(labelled "in segment 12", "not in segment 12"). With ``compare``, each series comes twice, ``"compare":
"current"`` then ``"previous"`` (the period of equal length before; its buckets are its
own dates). Each series is read from the rollups when they answer it exactly
(``rollup_source.py``), else from raw events; ``source`` says which, per line and for the
whole answer (``rollup`` only when every line is).

With a ``formula`` the answer holds, instead of the series, one line per (period,
breakdown value) with ``"math": "formula"``: the formula over the series' values of each
bucket and over their totals (``formula.py``; division by zero is null).

``run_top_values`` answers a :class:`TopValuesQuery`: the most frequent values of a key.
Store errors that are the client's doing become 400s: a regex RE2 refuses
(:class:`InvalidRegex`) and a query over the time limit (:class:`QueryTimeout`).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings

from analytics.core.errors import ApplicationError
from analytics.core.timeutils import utc_now
from analytics.query.compiler.top import compile_top_values
from analytics.query.compiler.trends import INTEGER_MATHS, compile_series
from analytics.query.formula import LETTERS, evaluate
from analytics.query.limits import too_many_points
from analytics.query.model import SEGMENT_BREAKDOWN_VALUES, DateRange, Formula, Series, TopValuesQuery, TrendsQuery
from analytics.query.rollup_source import rollup_counts
from analytics.query.timerange import iter_buckets, previous_range
from analytics.warehouse.errors import StoreQueryError, StoreUnavailable
from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore, get_store
from analytics.warehouse.transports.common import error_code

OTHER = "$other"


class QueryTooLarge(ApplicationError):
    """More points than MAX_POINTS (known only once "all" is resolved): a 400 naming the limit."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extra={"fields": {"interval": [message]}})


class InvalidRegex(ApplicationError):
    """A regex Python accepts but ClickHouse's RE2 does not: a 400 naming the filters."""

    def __init__(self, reason: str) -> None:
        message = f"a regex does not compile in RE2: {reason}"
        super().__init__(message, extra={"fields": {"filters": [message]}})


class QueryTimeout(ApplicationError):
    """The query ran longer than CLICKHOUSE_QUERY_TIMEOUT: a 400 naming the limit."""

    def __init__(self) -> None:
        message = (
            f"the query took longer than the {settings.CLICKHOUSE_QUERY_TIMEOUT} s limit;"
            " use a shorter range, fewer series or narrower filters"
        )
        super().__init__(message, extra={"fields": {"timeout": [message]}})


_CANNOT_COMPILE_REGEXP = 427
_TIMEOUT_EXCEEDED = 159
_RE2_REASON = re.compile(r"cannot compile re2: (.*?)\. Look at", re.DOTALL)


def _rows(store: EventStore, query: Query) -> list[dict[str, Any]]:
    """The query's rows; a regex RE2 refuses and a timeout become 400s instead of 500s."""
    try:
        return store.query(query).dicts()
    except StoreQueryError as error:
        if error_code(error) == _CANNOT_COMPILE_REGEXP:
            match = _RE2_REASON.search(str(error))
            raise InvalidRegex(match.group(1)[:300] if match else "rejected by ClickHouse") from None
        raise
    except StoreUnavailable as error:
        if error_code(error) == _TIMEOUT_EXCEEDED:
            raise QueryTimeout() from None
        raise


def first_event_at(store: EventStore, project_id: int) -> datetime | None:
    """The project's first event's time, or None without events."""
    row = store.query(
        Query(
            name="trends.first_event",
            sql="SELECT count() AS n, toUnixTimestamp64Milli(min(timestamp)) AS first_ms"
            " FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id},
        )
    ).dicts()[0]
    if not int(row["n"]):
        return None
    return datetime.fromtimestamp(int(row["first_ms"]) / 1000, tz=UTC)


@dataclass
class _Line:
    """One answer series being filled: bucket starts (epoch seconds) -> value."""

    epochs: list[int]
    integer: bool
    values: dict[int, float] = field(default_factory=dict)
    total: float = 0
    volume: int = 0

    def put(self, epoch: int, value: float) -> None:
        # A bucket start ClickHouse and Python disagree on (a zone whose midnight does not
        # exist on a DST day) goes to the bucket that holds it.
        index = bisect_right(self.epochs, epoch) - 1
        if index >= 0:
            key = self.epochs[index]
            self.values[key] = self.values.get(key, 0) + value

    def points(self, zone: ZoneInfo) -> list[dict[str, Any]]:
        return [
            {
                "bucket": datetime.fromtimestamp(epoch, tz=zone).isoformat(),
                "value": self._number(self.values.get(epoch, 0)),
            }
            for epoch in self.epochs
        ]

    def _number(self, value: float) -> float | int:
        return int(value) if self.integer else float(value)


def _describe(series: Series) -> dict[str, Any]:
    described: dict[str, Any] = {"label": series.label(), "event": series.event, "math": series.math}
    if series.property is not None:
        described["property"] = series.property
    return described


def _rollup_period(
    project_id: int, query: TrendsQuery, series: Series, date_range: DateRange, epochs: list[int]
) -> list[dict[str, Any]] | None:
    counts = rollup_counts(project_id=project_id, query=query, series=series, date_range=date_range, epochs=epochs)
    if counts is None:
        return None
    line = _Line(epochs, True)
    for epoch, count in counts.items():
        line.put(epoch, count)
        line.total += count
    zone = ZoneInfo(query.time_zone)
    return [{**_describe(series), "points": line.points(zone), "total": line._number(line.total), "source": "rollup"}]


def _run_period(
    store: EventStore, project_id: int, query: TrendsQuery, series: Series, date_range: DateRange
) -> list[dict[str, Any]]:
    zone = ZoneInfo(query.time_zone)
    epochs = [int(bucket.timestamp()) for bucket in iter_buckets(date_range, query.interval, zone)]
    from_rollup = _rollup_period(project_id, query, series, date_range, epochs)
    if from_rollup is not None:
        return from_rollup
    compiled = compile_series(project_id=project_id, query=query, series=series, date_range=date_range)
    integer = series.math in INTEGER_MATHS
    lines: dict[tuple[bool, str], _Line] = {}
    for row in _rows(store, compiled.query):
        key = (bool(row["is_top"]), str(row["breakdown_value"])) if compiled.breakdown else (True, "")
        line = lines.setdefault(key, _Line(epochs, integer))
        value = row["value"]
        value = 0 if value is None or value != value else value  # NULL / NaN (no rows) -> 0
        if row["bucket"] is None:
            line.total = value
            line.volume = int(row.get("volume") or 0)
        else:
            line.put(int(row["bucket"]), value)
    if query.breakdown is not None and query.breakdown.type == "segment":
        for value in SEGMENT_BREAKDOWN_VALUES:  # both sides, even one without events
            lines.setdefault((True, value), _Line(epochs, integer))
    if not compiled.breakdown:
        line = lines.get((True, ""), _Line(epochs, integer))
        return [
            {**_describe(series), "points": line.points(zone), "total": line._number(line.total), "source": "events"}
        ]
    answer = []
    # Top values by event count as ranked by the query (ties by value), "other" last.
    for (is_top, value), line in sorted(lines.items(), key=lambda item: (not item[0][0], -item[1].volume, item[0][1])):
        entry: dict[str, Any] = {
            **_describe(series),
            "points": line.points(zone),
            "total": line._number(line.total),
            "source": "events",
        }
        if is_top:
            entry.update(
                label=f"{series.label()} · {_value_label(query, value)}", breakdown_value=value or None, is_other=False
            )
        else:
            entry.update(label=f"{series.label()} · other", breakdown_value=OTHER, is_other=True)
        answer.append(entry)
    return answer


def _value_label(query: TrendsQuery, value: str | None) -> str:
    """How a breakdown value reads in a line's label."""
    if query.breakdown is not None and query.breakdown.type == "segment":
        return f"{'in' if value == 'in' else 'not in'} segment {query.breakdown.key}"
    return value or "(not set)"


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _formula_lines(
    query: TrendsQuery, formula: Formula, per_series: list[list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """One line per (period, breakdown value): the formula over the series' lines of that key.

    A series without a line for the key (a breakdown value outside its top N) counts as 0.
    """
    keyed: dict[tuple[Any, Any], dict[str, dict[str, Any]]] = {}
    for index, entries in enumerate(per_series):
        for entry in entries:
            key = (entry.get("compare"), entry.get("breakdown_value", ""))
            keyed.setdefault(key, {})[LETTERS[index]] = entry
    answer = []
    for (period, breakdown_value), by_letter in keyed.items():
        template = next(iter(by_letter.values()))
        buckets = [point["bucket"] for point in template["points"]]

        def value_at(position: int, by_letter: dict[str, dict[str, Any]] = by_letter) -> dict[str, float | None]:
            return {letter: entry["points"][position]["value"] for letter, entry in by_letter.items()}

        values = {letter: 0.0 for letter in LETTERS[: len(per_series)]}
        points = [
            {"bucket": bucket, "value": _finite(evaluate(formula.tree, {**values, **value_at(position)}))}
            for position, bucket in enumerate(buckets)
        ]
        totals = {**values, **{letter: entry["total"] for letter, entry in by_letter.items()}}
        line: dict[str, Any] = {
            "label": formula.text,
            "event": None,
            "math": "formula",
            "formula": formula.text,
            "points": points,
            "total": _finite(evaluate(formula.tree, totals)),
            "source": "rollup" if all(entry["source"] == "rollup" for entry in by_letter.values()) else "events",
        }
        for name in ("breakdown_value", "is_other", "compare"):
            if name in template:
                line[name] = template[name]
        if template.get("is_other"):
            line["label"] = f"{formula.text} · other"
        elif "breakdown_value" in template:
            line["label"] = f"{formula.text} · {_value_label(query, breakdown_value)}"
        if period == "previous":
            line["label"] += " (previous)"
        answer.append(line)
    return answer


def run_trends(*, project_id: int, query: TrendsQuery, store: EventStore | None = None) -> dict[str, Any]:
    """Compute a trends query for one project (the caller has checked the user may read it)."""
    store = store or get_store()
    zone = ZoneInfo(query.time_zone)
    start = query.date_from
    if start is None:
        start = first_event_at(store, project_id) or query.date_to
    date_range = DateRange(min(start, query.date_to), query.date_to)
    problem = too_many_points(query, date_range)
    if problem:
        raise QueryTooLarge(problem)
    periods = [("current", date_range)]
    if query.compare:
        periods.append(("previous", previous_range(date_range, zone)))
    per_series: list[list[dict[str, Any]]] = []
    for series in query.series:
        entries = []
        for name, period in periods:
            for entry in _run_period(store, project_id, query, series, period):
                if query.compare:
                    entry["compare"] = name
                    if name == "previous":
                        entry["label"] += " (previous)"
                entries.append(entry)
        per_series.append(entries)
    if query.formula is not None:
        series_out = _formula_lines(query, query.formula, per_series)
    else:
        series_out = [entry for entries in per_series for entry in entries]
    return {
        "series": series_out,
        "interval": query.interval,
        "from": date_range.start.astimezone(zone).isoformat(),
        "to": date_range.end.astimezone(zone).isoformat(),
        "time_zone": query.time_zone,
        "computed_at": utc_now().isoformat(),
        "source": "rollup" if series_out and all(entry["source"] == "rollup" for entry in series_out) else "events",
    }


def run_top_values(*, project_id: int, query: TopValuesQuery, store: EventStore | None = None) -> list[dict[str, Any]]:
    """``[{"value", "events", "distinct_ids", "first_ms", "last_ms"}]``, most events first."""
    rows = _rows(store or get_store(), compile_top_values(project_id=project_id, query=query))
    return [
        {
            "value": row["value"],
            "events": int(row["events"]),
            "distinct_ids": int(row["distinct_ids"]),
            "first_ms": int(row["first_ms"]),
            "last_ms": int(row["last_ms"]),
        }
        for row in rows
    ]
