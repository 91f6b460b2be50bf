"""Trends: one time series per (series, period), optionally broken down by a property.

Each series compiles to one query over ``events`` (no ``FINAL``: the table holds each event
once) for one period ``[start, end)``:

- rows ``(bucket, value)`` per bucket and a total row (``bucket`` NULL) from
  ``GROUP BY ROLLUP`` (``group_by_use_nulls = 1``): the total of ``unique_users`` or of a
  percentile is computed over the whole period, not summed from buckets;
- with a breakdown, rows ``(bucket, is_top, breakdown_value, value)``: the top N values of
  the breakdown property by event count (ties by value) keep their value, every other
  event goes to "other" (``is_top = 0``); totals per value from ``GROUPING SETS``, with
  each value's event count (``volume``) to order them. A
  property that is not set and an empty one form one group (value ``''``).

Math: ``total`` (events), ``unique_users`` (``uniqExact(person_id)``),
``unique_distinct_ids``, ``unique_sessions`` (distinct ``session_key`` of the counted events,
sessions cut by the project's rules in ``compiler/sessions.py`` from every event of the range),
and ``sum``, ``avg``, ``min``, ``max``, ``p50``..``p99`` of a numeric property (numeric view of
``compiler.filters``: events where it is not a number are left out; percentiles are
``quantileExactInclusive``, linear interpolation between the closest ranks). The per-user
maths (``avg_per_user``, ``min_per_user``, ``max_per_user``, ``median_per_user``) count each
person's events per bucket and over the period (``GROUPING SETS``, the period's row has
``bucket`` NULL), then take the statistic over the persons of each group.

A segment breakdown (``type: "segment"``, the key a segment id) gives every event the
value ``in`` when its person is a member (the filter's membership test,
``analytics.query.membership``) and ``not_in`` otherwise: two lines, no "other".

A person breakdown (``type: "person"``) joins each event with the latest live properties of
its person (``LEFT JOIN`` on ``person_id``; no row: not set). Event breakdowns take every key
filters take, derived keys included.

Buckets are ``toStartOfMinute/Hour/Day(timestamp, tz)``, ``toMonday`` and
``toStartOfMonth`` in the project's zone, returned as Unix seconds of the bucket start.

Formulas are computed in Python by the runner; the rollup path is ``rollup_source.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from analytics.query.compiler.filters import (
    PERSONS_SQL,
    filter_columns,
    filter_sql,
    json_views,
    key_columns,
    property_views,
    session_columns,
    session_views,
)
from analytics.query.compiler.params import Params
from analytics.query.compiler.sessions import ENTRY_ATTRIBUTES, SessionRules, session_events_sql, sessions_sql
from analytics.query.membership import segment_membership_sql
from analytics.query.model import PROPERTY_MATHS, SEGMENT_BREAKDOWN_VALUES, Breakdown, DateRange, Series, TrendsQuery
from analytics.warehouse.guard import Query
from analytics.warehouse.schema import COMPUTED_EVENT_COLUMNS, EVENT_COLUMNS

_TZ = "{tz:String}"
BUCKETS = {
    "minute": f"toUnixTimestamp(toStartOfMinute(timestamp, {_TZ}))",
    "hour": f"toUnixTimestamp(toStartOfHour(timestamp, {_TZ}))",
    "day": f"toUnixTimestamp(toStartOfDay(timestamp, {_TZ}))",
    "week": f"toUnixTimestamp(toDateTime(toMonday(timestamp, {_TZ}), {_TZ}))",
    "month": f"toUnixTimestamp(toDateTime(toStartOfMonth(timestamp, {_TZ}), {_TZ}))",
}
# Over the inner query's columns ``person_id`` and ``x`` (the numeric property).
MATH_SQL = {
    "total": "count()",
    "unique_users": "uniqExact(person_id)",
    "unique_distinct_ids": "uniqExact(distinct_id)",
    "unique_sessions": "uniqExact(session)",
    "sum": "sum(x)",
    "avg": "avg(x)",
    "min": "min(x)",
    "max": "max(x)",
    "p50": "quantileExactInclusive(0.5)(x)",
    "p75": "quantileExactInclusive(0.75)(x)",
    "p90": "quantileExactInclusive(0.9)(x)",
    "p95": "quantileExactInclusive(0.95)(x)",
    "p99": "quantileExactInclusive(0.99)(x)",
}
PER_USER_SQL = {
    "avg_per_user": "avg(n)",
    "min_per_user": "min(n)",
    "max_per_user": "max(n)",
    "median_per_user": "quantileExactInclusive(0.5)(n)",
}
INTEGER_MATHS = frozenset(
    {"total", "unique_users", "unique_distinct_ids", "unique_sessions", "min_per_user", "max_per_user"}
)
_SCOPE = (
    "project_id = {project_id:UInt64}"
    " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
)
# Events joined with the latest version of their person's properties (person breakdowns).
_WITH_PERSONS = f" LEFT JOIN (SELECT person_id, properties AS person_properties FROM ({PERSONS_SQL})) AS breakdown_persons USING (person_id)"


def _session_rules(query: TrendsQuery) -> SessionRules:
    return SessionRules(
        time_zone=query.time_zone,
        timeout_minutes=query.session_timeout_minutes,
        split_at_midnight=query.session_split_at_midnight,
    )


def _events_source(query: TrendsQuery, series: Series, params: Params) -> tuple[str | None, bool]:
    """What a series reads, and whether it joins session attributes.

    Plain ``events`` unless the series needs sessions: for ``unique_sessions`` the events of
    the range with their ``session_key``; for session filters or a session breakdown also
    the session's attributes as ``session_<column>`` (``compiler/sessions.py``'s one row
    per session, joined on ``session_key``). Sessions are cut from every event of the range
    first; the series' event and filters then pick the events counted.

    None: ``unique_sessions`` without session attributes or person breakdown, which
    :func:`_counted_sessions` cuts narrowly (the cut then carries only what the count needs).
    """
    columns = session_columns((series.filters, query.filters), query.breakdown)
    if series.math != "unique_sessions" and not columns:
        return "events", False
    if not columns and (query.breakdown is None or query.breakdown.type != "person"):
        return None, False
    rules = _session_rules(query)
    events = session_events_sql(params, rules, columns=_read_columns(query, series))
    if not columns:
        return f"({events}) AS events", False
    entry = [name for name in ENTRY_ATTRIBUTES if name in columns]
    sessions = sessions_sql(params, rules, attributes=entry)
    picked = ", ".join(f"{name} AS session_{name}" for name in sorted(columns))
    joined = (
        f"SELECT * FROM ({events}) AS session_events INNER JOIN"
        f" (SELECT session_key, {picked} FROM ({sessions})) AS session_attributes USING (session_key)"
    )
    return f"({joined}) AS events", True


def _read_columns(query: TrendsQuery, series: Series) -> tuple[str, ...]:
    """The ``events`` columns a series' rows read (what the session cut must carry)."""
    needed = {"project_id", "event", "distinct_id", "timestamp", "person_id"}  # the scope reads the first
    needed |= filter_columns(series.filters) | filter_columns(query.filters)
    if series.property is not None:
        needed |= key_columns(series.property)
    if query.breakdown is not None and query.breakdown.type == "event":
        needed |= key_columns(query.breakdown.key)
    if query.breakdown is not None and query.breakdown.type == "segment":
        needed |= {"person_id", "person_key"}  # the membership test reads either
    return tuple(name for name in (*EVENT_COLUMNS, *COMPUTED_EVENT_COLUMNS) if name in needed)


def _counted_sessions(query: TrendsQuery, params: Params, where: str, bucket: str, value: str | None) -> str:
    """The session cut for ``unique_sessions``, carrying per event only its bucket, whether the
    series counts it (``counted``: the series' event and filters) and its breakdown value
    (``breakdown_raw``), all computed while scanning: the windows then sort narrow rows
    instead of every column of the events."""
    computed = {"counted": where, "bucket": bucket}
    if value is not None:
        computed["breakdown_raw"] = value
    return f"({session_events_sql(params, _session_rules(query), columns=(), computed=computed)}) AS events"


@dataclass(frozen=True)
class CompiledSeries:
    query: Query
    breakdown: bool


def _where(query: TrendsQuery, series: Series, params: Params) -> tuple[str, str]:
    """The WHERE clause and the inner column list of one series."""
    parts = [_SCOPE]
    if series.event is not None:
        parts.append(f"event = {params.add(series.event, 'String')}")
    if series.filters is not None:
        parts.append(filter_sql(series.filters, params))
    if query.filters is not None:
        parts.append(filter_sql(query.filters, params))
    columns = "person_id"
    if series.math in PROPERTY_MATHS:
        assert series.property is not None  # the serializer requires it
        number = property_views(series.property, params).number
        parts.append(f"isNotNull({number})")
        columns += f", assumeNotNull({number}) AS x"
    if series.math == "unique_sessions":
        columns += ", session_key AS session"
    if series.math == "unique_distinct_ids":
        columns += ", distinct_id"
    return " AND ".join(parts), columns


def _breakdown_text(breakdown: Breakdown, params: Params) -> str:
    if breakdown.type == "segment":
        member = segment_membership_sql(
            project_id=int(params.values["project_id"]), segment_id=int(breakdown.key), params=params
        )
        inside, outside = (params.add(value, "String") for value in SEGMENT_BREAKDOWN_VALUES)
        return f"if({member}, {inside}, {outside})"
    if breakdown.type == "person":
        return json_views("person_properties", breakdown.key, params).text
    if breakdown.type == "session":
        return session_views(breakdown.key).text
    return property_views(breakdown.key, params).text


def _aggregate(series: Series, rows: str, keys: list[str]) -> str:
    """Aggregate the per-event ``rows`` by ``keys`` + bucket, a total row per key (bucket NULL).

    With ``keys`` (a breakdown) each group also gets its event count ``volume``.
    """
    key_list = "".join(f"{key}, " for key in keys)
    volume = ", count() AS volume" if keys else ""
    if series.math in PER_USER_SQL:
        # Events per person per bucket and per person over the period (bucket NULL), then
        # the statistic of those counts over the persons of each group.
        per_person = (
            f"SELECT {key_list}bucket, person_id, count() AS n FROM ({rows})"
            f" GROUP BY GROUPING SETS (({key_list}bucket, person_id), ({key_list}person_id))"
        )
        volume = ", sum(n) AS volume" if keys else ""
        return f"SELECT {key_list}bucket, {PER_USER_SQL[series.math]} AS value{volume} FROM ({per_person}) GROUP BY {key_list}bucket"
    math = MATH_SQL[series.math]
    if not keys:
        return f"SELECT bucket, {math} AS value FROM ({rows}) GROUP BY ROLLUP(bucket)"
    return (
        f"SELECT {key_list}bucket, {math} AS value{volume} FROM ({rows})"
        f" GROUP BY GROUPING SETS (({key_list}bucket), ({', '.join(keys)}))"
    )


def compile_series(*, project_id: int, query: TrendsQuery, series: Series, date_range: DateRange) -> CompiledSeries:
    params = Params(project_id=project_id, start=date_range.start, end=date_range.end, tz=query.time_zone)
    events, with_sessions = _events_source(query, series, params)
    where, columns = _where(query, series, params)
    bucket = BUCKETS[query.interval]
    value = f"ifNull({_breakdown_text(query.breakdown, params)}, '')" if query.breakdown else None
    rows_where, rows_value = where, value
    if events is None:
        events = _counted_sessions(query, params, where, bucket, value)
        bucket, rows_where, rows_value = "bucket", "counted", "breakdown_raw"
    settings_ = {"group_by_use_nulls": 1, "max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT}
    if query.breakdown is None:
        rows = f"SELECT {bucket} AS bucket, {columns} FROM {events} WHERE {rows_where}"
        sql = f"{_aggregate(series, rows, [])} ORDER BY bucket"
        return CompiledSeries(Query(name="trends.series", sql=sql, params=params.values, settings=settings_), False)
    persons = _WITH_PERSONS if query.breakdown.type == "person" else ""
    source = events + persons
    if query.breakdown.type == "segment":
        # Two values, both kept: no ranking pass (it would test every event's membership twice).
        rows = (
            f"SELECT {bucket} AS bucket, {rows_value} AS breakdown_raw, 1 AS is_top,"
            f" breakdown_raw AS breakdown_value, {columns} FROM {source} WHERE {rows_where}"
        )
        sql = f"{_aggregate(series, rows, ['is_top', 'breakdown_value'])} ORDER BY breakdown_value, bucket"
        return CompiledSeries(Query(name="trends.breakdown", sql=sql, params=params.values, settings=settings_), True)
    # The top values rank events: plain ``events`` unless session attributes are needed.
    ranked = source if with_sessions else f"events{persons}"
    limit = params.add(query.breakdown.limit, "UInt32")
    top = f"SELECT {value} AS top FROM {ranked} WHERE {where} GROUP BY top ORDER BY count() DESC, top LIMIT {limit}"
    rows = (
        f"SELECT {bucket} AS bucket, {rows_value} AS breakdown_raw, breakdown_raw IN ({top}) AS is_top,"
        f" if(is_top, breakdown_raw, '') AS breakdown_value, {columns} FROM {source} WHERE {rows_where}"
    )
    sql = f"{_aggregate(series, rows, ['is_top', 'breakdown_value'])} ORDER BY is_top DESC, breakdown_value, bucket"
    return CompiledSeries(Query(name="trends.breakdown", sql=sql, params=params.values, settings=settings_), True)
