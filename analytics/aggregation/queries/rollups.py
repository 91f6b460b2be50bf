"""ClickHouse SQL for rollups: one GROUP BY per stream returning every bucket x event.

Every statistic is computed from raw events (``FROM events``: the table holds each event
once, duplicates are dropped when they are written, docs/event-store.md) for every
granularity; nothing is added up from smaller buckets, which is the only way unique users
and percentiles stay exact.

Percentiles use ``quantilesExactInclusive``: exact (every value is kept per group) and
linearly interpolated between the two nearest ranks, the definition of numpy's default,
spreadsheets' PERCENTILE.INC and Python's ``statistics.quantiles(method="inclusive")``.
Its memory is 8 bytes per value per measure in a group, which is cheap for buckets up
to a day at thousands of events per second; an approximate sketch would make the
figures differ from any independent check.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.conf import settings

from analytics.aggregation.granularity import Granularity, clickhouse_bucket_expression
from analytics.core.timeutils import to_epoch_ms
from analytics.warehouse.guard import Query, validate_identifier

# Levels in the order of the fields in every measure's statistics.
QUANTILE_LEVELS = (0.25, 0.5, 0.75, 0.9, 0.99)
QUANTILE_FIELDS = ("p25", "p50", "p75", "p90", "p99")
MEASURE_FIELDS = ("count", "sum", "min", "max", "avg", *QUANTILE_FIELDS)
# Measures that are typed columns of the events table; the others come from JSON properties.
TYPED_MEASURE_COLUMNS = {"revenue": "revenue"}

# Rollup queries only: evaluate the JSON parse of a row only when the cheap substring
# test says the properties can hold a measure (``if`` is lazy only with force_enable).
ROLLUP_SETTINGS = {"short_circuit_function_evaluation": "force_enable"}

# uniqExact of a String counts the distinct SipHash-128 values of the strings. The same
# 128-bit hash handed over as a UInt128 takes uniqExact's numeric path, which skips the
# string handling: the same figure, the same guarantee, less CPU.
UNIQUE_USERS_SQL = "uniqExact(reinterpretAsUInt128(sipHash128(distinct_id)))"
# ClickHouse's multiSearch* functions take at most 255 needles.
MAX_SEARCH_NEEDLES = 255

_STATS_TYPE = (
    "Tuple(" + ", ".join(["count UInt64"] + [f"{name} Nullable(Float64)" for name in MEASURE_FIELDS[1:]]) + ")"
)


def _measure_values_sql(measures: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """Inner SELECT columns m0..mN (Nullable(Float64)) and the parameters they need.

    Typed columns are read as they are; every other measure comes out of ONE parse of the
    JSON properties (JSONExtract into a named Tuple), which costs a third of extracting
    three keys separately. Nullable: an event without the property, or with a value that
    is not a number, is skipped by every aggregate instead of counting as 0.
    """
    json_measures = [name for name in measures if name not in TYPED_MEASURE_COLUMNS]
    columns = []
    params: dict[str, Any] = {}
    if json_measures:
        # Names match IDENTIFIER_PATTERN (no backticks), so quoting them keeps the type valid;
        # the type travels as a parameter, never as SQL text.
        params["measures_type"] = (
            "Tuple(" + ", ".join(f"`{validate_identifier(name)}` Nullable(Float64)" for name in json_measures) + ")"
        )
        # Most events carry none of the measures (page views, clicks): parsing their JSON
        # only to find nothing cost about a tenth of the query. A top-level key "k" is written in
        # the text either as "k" or with an escape sequence (a backslash); a row holding
        # neither cannot have the key, and its parse would give all NULLs, so the constant
        # all-NULL tuple replaces the parse without changing any figure. Names are ASCII
        # identifiers (IDENTIFIER_PATTERN), so a JSON writer never escapes them.
        needles = [f'"{name}"' for name in json_measures] + ["\\"]
        if len(needles) <= MAX_SEARCH_NEEDLES:
            params["measure_needles"] = needles
            columns.append(
                "if(multiSearchAny(properties, {measure_needles:Array(String)}),"
                " JSONExtract(properties, {measures_type:String}),"
                " JSONExtract('{}', {measures_type:String})) AS measure_values"
            )
        else:  # more keys than multiSearchAny takes: parse every row
            columns.append("JSONExtract(properties, {measures_type:String}) AS measure_values")
    for index, name in enumerate(measures):
        validate_identifier(name)
        column = TYPED_MEASURE_COLUMNS.get(name)
        if column is not None:
            columns.append(f"toNullable(toFloat64({column})) AS m{index}")
        else:
            columns.append(f"tupleElement(measure_values, {json_measures.index(name) + 1}) AS m{index}")
    return columns, params


def _measure_aggregates_sql(index: int) -> str:
    """Aggregates of measure ``index`` as columns c{i}, s{i}, lo{i}, hi{i}, a{i}, q{i}
    (q is the array of QUANTILE_LEVELS, computed once)."""
    levels = ", ".join(repr(level) for level in QUANTILE_LEVELS)
    value = f"m{index}"
    return (
        f"count({value}) AS c{index}, sum({value}) AS s{index}, min({value}) AS lo{index}, "
        f"max({value}) AS hi{index}, avg({value}) AS a{index}, "
        f"quantilesExactInclusive({levels})({value}) AS q{index}"
    )


def _measure_stats_sql(index: int) -> str:
    """One map entry: measure name -> named tuple of its statistics (rendered as JSON)."""
    parts = [f"c{index}", f"s{index}", f"lo{index}", f"hi{index}", f"a{index}"]
    parts += [f"q{index}[{position}]" for position in range(1, len(QUANTILE_LEVELS) + 1)]
    return f"{{measure_{index}:String}}, CAST(tuple({', '.join(parts)}) AS {_STATS_TYPE})"


def measures_params(measures: Sequence[str]) -> dict[str, str]:
    return {f"measure_{index}": validate_identifier(name) for index, name in enumerate(measures)}


def rollup_query(
    *,
    project_id: int,
    granularity: Granularity,
    tz_name: str,
    measures: Sequence[str],
    start: datetime,
    end: datetime,
    dirty_buckets: Sequence[datetime] = (),
    dirty_low: datetime | None = None,
    dirty_high: datetime | None = None,
    event: str | None = None,
) -> Query:
    """Rollup rows for the buckets in [start, end) plus the whole of each dirty bucket.

    Columns: bucket (epoch seconds, UInt32), event, count, unique_users, unique_persons,
    measures (a JSON object: measure -> {count, sum, min, max, avg, p25..p99}, only for
    measures present in the group). ``dirty_low``/``dirty_high`` bound the dirty
    buckets so ClickHouse reads only their parts of the table.
    """
    bucket = clickhouse_bucket_expression(granularity)
    values, value_params = _measure_values_sql(measures)
    inner_columns = ", ".join(["timestamp", "event", "distinct_id", "person_id", *values])
    aggregates = "".join(f",\n        {_measure_aggregates_sql(index)}" for index in range(len(measures)))
    if measures:
        stats = ", ".join(_measure_stats_sql(index) for index in range(len(measures)))
        measures_sql = f"toJSONString(mapFilter((name, stats) -> stats.1 > 0, map({stats})))"
    else:
        measures_sql = "'{}'"
    params: dict[str, object] = {
        "project_id": int(project_id),
        "tz": tz_name,
        "start_ms": to_epoch_ms(start),
        "end_ms": to_epoch_ms(end),
        **measures_params(measures),
        **value_params,
    }
    where = "(timestamp >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') AND timestamp < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC'))"
    if dirty_buckets:
        assert dirty_low is not None
        assert dirty_high is not None
        params["dirty"] = [int(moment.timestamp()) for moment in dirty_buckets]
        params["dirty_low_ms"] = to_epoch_ms(dirty_low)
        params["dirty_high_ms"] = to_epoch_ms(dirty_high)
        where = (
            f"({where} OR (timestamp >= fromUnixTimestamp64Milli({{dirty_low_ms:Int64}}, 'UTC')"
            f" AND timestamp < fromUnixTimestamp64Milli({{dirty_high_ms:Int64}}, 'UTC')"
            f" AND {bucket} IN {{dirty:Array(UInt32)}}))"
        )
    event_filter = ""
    if event is not None:
        params["event"] = event
        event_filter = " AND event = {event:String}"
    # Innermost: one row per event, measures as Nullable(Float64). Middle: the
    # GROUP BY. Outer: the JSON of each group's statistics (no aggregate is repeated).
    sql = f"""
SELECT bucket, event, count, unique_users, unique_persons, {measures_sql} AS measures
FROM (
    SELECT
        {bucket} AS bucket,
        event,
        count() AS count,
        {UNIQUE_USERS_SQL} AS unique_users,
        uniqExact(person_id) AS unique_persons{aggregates}
    FROM (
        SELECT {inner_columns}
        FROM events
        WHERE project_id = {{project_id:UInt64}} AND {where}{event_filter}
    )
    GROUP BY bucket, event
)
ORDER BY bucket, event
"""
    # A day or month bucket at thousands of events per second reads far more than an
    # interactive query: it gets its own time limit instead of CLICKHOUSE_QUERY_TIMEOUT.
    query_settings = {**ROLLUP_SETTINGS, "max_execution_time": int(settings.AGGREGATION_QUERY_TIMEOUT_SECONDS)}
    return Query(name=f"aggregation.rollup.{granularity.value}", sql=sql, params=params, settings=query_settings)


def late_buckets_query(
    *,
    project_id: int,
    granularity: Granularity,
    tz_name: str,
    inserted_after: datetime,
    inserted_until: datetime,
    before: datetime,
) -> Query:
    """Buckets holding events inserted in (inserted_after, inserted_until] with a timestamp
    before ``before`` (the event-time watermark): the late events. Columns: bucket
    (epoch seconds), late (late events in it; the table holds each event once).

    ClickHouse reads the narrow ``inserted_at`` column first (PREWHERE) and skips
    everything older (the ``idx_inserted_at`` minmax index skips whole granules).
    """
    bucket = clickhouse_bucket_expression(granularity)
    sql = f"""
SELECT {bucket} AS bucket, count() AS late
FROM events
PREWHERE inserted_at > fromUnixTimestamp64Milli({{after_ms:Int64}}, 'UTC')
    AND inserted_at <= fromUnixTimestamp64Milli({{until_ms:Int64}}, 'UTC')
WHERE project_id = {{project_id:UInt64}}
  AND timestamp < fromUnixTimestamp64Milli({{before_ms:Int64}}, 'UTC')
GROUP BY bucket
ORDER BY bucket
"""
    return Query(
        name=f"aggregation.late.{granularity.value}",
        sql=sql,
        params={
            "project_id": int(project_id),
            "tz": tz_name,
            "after_ms": to_epoch_ms(inserted_after),
            "until_ms": to_epoch_ms(inserted_until),
            "before_ms": to_epoch_ms(before),
        },
    )


def first_event_time_query(*, project_id: int) -> Query:
    """The project's earliest event time in epoch ms (0 when it has none)."""
    return Query(
        name="aggregation.first_event",
        sql="SELECT toInt64(ifNull(toUnixTimestamp64Milli(min(timestamp)), 0)) AS first_ms "
        "FROM events WHERE project_id = {project_id:UInt64}",
        params={"project_id": int(project_id)},
    )


def store_clock_query() -> Query:
    """ClickHouse's clock in epoch ms: the clock that stamps ``inserted_at``."""
    return Query(name="aggregation.clock", sql="SELECT toUnixTimestamp64Milli(now64(3)) AS now_ms")
