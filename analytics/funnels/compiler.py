"""Funnels to ClickHouse SQL: per-person event arrays folded into attempts.

The semantics are stated in the package docstring (``analytics/funnels/__init__.py``);
this module implements them in three layers, each a subquery of the next:

1. ``_moments_sql``: one row per (person, millisecond) with a bit mask of what the events
   of that moment match: bit ``k`` for step ``k``, bit ``n + j`` for exclusion ``j``
   (several events of one person at one millisecond are one moment; their masks are OR-ed).
   Strict funnels keep every moment of the person (mask 0 = "some other event"); the other
   orders only moments that match something. Only events in ``[from, to + window]`` are read.
2. ``_persons_sql``: per person, the sorted array of moments, one attempt per entry moment
   (``arrayFold`` over the moments after it), exclusions checked per attempt, and the best
   attempt kept: furthest step, ties the earliest entry. Columns: ``person_id``,
   ``reached`` (steps reached, >= 1), ``times`` (ms of each reached step), ``entry_ms``,
   ``breakdown_value`` (text, '' when not set or not reached) and optionally
   ``distinct_ids``.
3. the answers (``compile_steps``, ``compile_actors``, ``compile_histogram``,
   ``compile_trend``) aggregate those person rows.

Every user value is a typed parameter; the tenant guard sees ``project_id =
{project_id:UInt64}`` on every read of ``events`` and ``persons``.
"""

from __future__ import annotations

from django.conf import settings

from analytics.funnels.model import FunnelQuery, PathsQuery, SegmentFilter, Step
from analytics.query.compiler.filters import filter_sql, property_views
from analytics.query.compiler.params import Params
from analytics.query.membership import segment_members_sql
from analytics.warehouse.guard import Query

OTHER = "$other"
_TZ = "{tz:String}"
ENTRY_BUCKETS = {
    "day": f"toUnixTimestamp(toStartOfDay(fromUnixTimestamp64Milli(entry_ms, 'UTC'), {_TZ}))",
    "week": f"toUnixTimestamp(toDateTime(toMonday(fromUnixTimestamp64Milli(entry_ms, 'UTC'), {_TZ}), {_TZ}))",
}


def query_settings() -> dict[str, object]:
    return {"max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT, "group_by_use_nulls": 1}


def new_params(project_id: int, query: FunnelQuery) -> Params:
    return Params(
        project_id=project_id,
        start=query.date_from,
        end=query.date_to,
        start_ms=int(query.date_from.timestamp() * 1000),
        end_ms=int(query.date_to.timestamp() * 1000),
        window_ms=query.window_ms,
        tz=query.time_zone,
    )


def step_sql(step: Step, params: Params, common: str | None = None) -> str:
    """A boolean expression: the event is one of the step's names and passes its filters."""
    parts = [f"event IN {params.add(list(step.events), 'Array(String)')}"]
    if step.filters is not None:
        parts.append(filter_sql(step.filters, params))
    if common:
        parts.append(common)
    return "(" + " AND ".join(parts) + ")"


def segment_sql(segment: SegmentFilter | None, project_id: int, params: Params) -> str | None:
    if segment is None:
        return None
    members = segment_members_sql(project_id=project_id, segment_id=segment.segment_id, params=params)
    return f"person_id {'NOT IN' if segment.negate else 'IN'} ({members})"


def _moments_sql(query: FunnelQuery, project_id: int, params: Params, *, with_distinct_ids: bool) -> str:
    common = filter_sql(query.filters, params) if query.filters is not None else None
    n = len(query.steps)
    tests = [step_sql(step, params, common) for step in query.steps]
    tests += [
        step_sql(Step(events=exclusion.events, filters=exclusion.filters), params, common)
        for exclusion in query.exclusions
    ]
    mask = " + ".join(f"if({test}, toUInt64({1 << bit}), toUInt64(0))" for bit, test in enumerate(tests))
    where = [
        "project_id = {project_id:UInt64}",
        "timestamp >= {start:DateTime64(3, 'UTC')}",
        "toUnixTimestamp64Milli(timestamp) <= {end_ms:Int64} + {window_ms:Int64}",
    ]
    if query.order != "strict":
        names = sorted({name for step in query.steps for name in step.events} | _exclusion_names(query))
        where.append(f"event IN {params.add(names, 'Array(String)')}")
    segment = segment_sql(query.segment, project_id, params)
    if segment:
        where.append(segment)
    value = "''"
    if query.breakdown is not None:
        value = f"ifNull({property_views(query.breakdown.key, params).text}, '')"
    step_bits = (1 << n) - 1
    keep = "" if query.order == "strict" else " HAVING mask != 0"
    ids = ", groupUniqArray(distinct_id) AS ids" if with_distinct_ids else ""
    return (
        f"SELECT person_id, ts, groupBitOr(m) AS mask, minIf(v, bitAnd(m, {step_bits}) != 0) AS value{ids}"
        f" FROM (SELECT person_id, distinct_id, toUnixTimestamp64Milli(timestamp) AS ts, {mask} AS m, {value} AS v"
        f" FROM events WHERE {' AND '.join(where)})"
        f" GROUP BY person_id, ts{keep}"
    )


def _exclusion_names(query: FunnelQuery) -> set[str]:
    return {name for exclusion in query.exclusions for name in exclusion.events}


def _attempt_sql(query: FunnelQuery) -> str:
    """The fold of one attempt from moment ``i``: (reached, last_ms, times, values[, broken])."""
    n = len(query.steps)
    t0 = "evs[i].1"
    start = f"(toUInt8(1), {t0}, [{t0}], [evs[i].3], toUInt8(0))"
    advance = "(toUInt8(acc.1 + 1), x.1, arrayPushBack(acc.3, x.1), arrayPushBack(acc.4, x.3), acc.5)"
    in_window = f"x.1 <= {t0} + {{window_ms:Int64}}"
    if query.order == "ordered":
        body = f"if(acc.1 < {n} AND x.1 > acc.2 AND {in_window} AND bitTest(x.2, acc.1), {advance}, acc)"
    else:  # strict: the very next moment must hold the next step, else the attempt stops
        broken = "(acc.1, acc.2, acc.3, acc.4, toUInt8(1))"
        body = f"if(acc.1 >= {n} OR acc.5 = 1 OR NOT ({in_window}), acc, if(bitTest(x.2, acc.1), {advance}, {broken}))"
    return f"arrayFold((acc, x) -> {body}, arraySlice(evs, i + 1), {start})"


def _unordered_attempt_sql(query: FunnelQuery) -> str:
    """The steps done in the window from moment ``i``: sorted (first ms, value) of each step done."""
    n = len(query.steps)
    window = "arrayFilter(x -> x.1 <= evs[i].1 + {window_ms:Int64}, arraySlice(evs, i))"
    firsts = f"arrayMap(s -> arrayFirstIndex(x -> bitTest(x.2, s), {window}), range({n}))"
    return f"arraySort(arrayMap(j -> ({window}[j].1, {window}[j].3), arrayFilter(j -> j > 0, {firsts})))"


def _void_sql(query: FunnelQuery) -> str:
    """1 when an exclusion event falls strictly between its two steps of attempt ``a``."""
    n = len(query.steps)
    tests = []
    for index, exclusion in enumerate(query.exclusions):
        low, high = exclusion.from_step, exclusion.to_step
        upper = f"if(a.1 > {high}, a.3[{high + 1}], a.3[1] + {{window_ms:Int64}} + 1)"
        tests.append(
            f"(a.1 > {low} AND arrayExists(x -> bitTest(x.2, {n + index})"
            f" AND x.1 > a.3[{low + 1}] AND x.1 < {upper}, evs))"
        )
    return " OR ".join(tests) if tests else "0"


def _value_sql(query: FunnelQuery) -> str:
    breakdown = query.breakdown
    if breakdown is None:
        return "''"
    if breakdown.attribution == "first_touch":
        return "best.4[1]"
    if breakdown.attribution == "last_touch":
        return "best.4[best.1]"
    return f"if(best.1 > {breakdown.step}, best.4[{(breakdown.step or 0) + 1}], '')"


def persons_sql(query: FunnelQuery, project_id: int, params: Params, *, with_distinct_ids: bool = False) -> str:
    """One row per person who entered and has a valid attempt (see the module docstring)."""
    n = len(query.steps)
    step_bits = (1 << n) - 1
    entry_bit = f"bitAnd(evs[i].2, {step_bits}) != 0" if query.order == "unordered" else "bitTest(evs[i].2, 0)"
    is_entry = f"{entry_bit} AND evs[i].1 >= {{start_ms:Int64}} AND evs[i].1 < {{end_ms:Int64}}"
    attempt = _unordered_attempt_sql(query) if query.order == "unordered" else _attempt_sql(query)
    attempts = f"arrayMap(i -> {attempt}, arrayFilter(i -> {is_entry}, arrayEnumerate(evs)))"
    if query.order == "unordered":  # as (reached, _, times, values, _) like the folds
        attempts = (
            "arrayMap(d -> (toUInt8(length(d)), toInt64(0), arrayMap(p -> p.1, d), arrayMap(p -> p.2, d),"
            f" toUInt8(0)), {attempts})"
        )
    valid = f"arrayFilter(a -> NOT ({_void_sql(query)}), {attempts})"
    best = "arraySort(a -> (-toInt32(a.1), a.3[1]), valid)[1]"
    moments = _moments_sql(query, project_id, params, with_distinct_ids=with_distinct_ids)
    ids = ", arrayDistinct(arrayFlatten(groupArray(ids))) AS distinct_ids" if with_distinct_ids else ""
    ids_out = ", distinct_ids" if with_distinct_ids else ""
    return (
        f"SELECT person_id, best.1 AS reached, best.3 AS times, best.3[1] AS entry_ms,"
        f" {_value_sql(query)} AS breakdown_value{ids_out} FROM ("
        f"SELECT person_id, {valid} AS valid, {best} AS best{ids_out} FROM ("
        f"SELECT person_id, arraySort(x -> x.1, groupArray((ts, mask, value))) AS evs{ids}"
        f" FROM ({moments}) GROUP BY person_id)"
        " WHERE length(valid) > 0)"
    )


def _step_columns(n: int) -> str:
    columns = []
    for s in range(n):
        columns.append(f"countIf(reached > {s}) AS count_{s}")
        if s:
            seconds = f"(times[{s + 1}] - times[{s}]) / 1000"
            columns.append(f"quantileExactInclusiveIf(0.5)({seconds}, reached > {s}) AS median_{s}")
            columns.append(f"avgIf({seconds}, reached > {s}) AS avg_{s}")
    return ", ".join(columns)


def compile_steps(*, project_id: int, query: FunnelQuery) -> Query:
    """Counts and conversion times per step: one row, or with a breakdown one row per top value plus
    ``$other`` and a total row (``is_top`` NULL)."""
    params = new_params(project_id, query)
    persons = persons_sql(query, project_id, params)
    columns = _step_columns(len(query.steps))
    if query.breakdown is None:
        sql = f"SELECT {columns} FROM ({persons})"
        return Query(name="funnels.steps", sql=sql, params=params.values, settings=query_settings())
    limit = params.add(query.breakdown.limit, "UInt32")
    sql = (
        f"WITH funnel_persons AS ({persons})"
        f" SELECT is_top, value, {columns} FROM ("
        " SELECT *, breakdown_value IN (SELECT breakdown_value FROM funnel_persons GROUP BY breakdown_value"
        f" ORDER BY count() DESC, breakdown_value LIMIT {limit}) AS is_top,"
        f" if(is_top, breakdown_value, '{OTHER}') AS value FROM funnel_persons)"
        " GROUP BY GROUPING SETS ((is_top, value), ()) ORDER BY is_top DESC, count_0 DESC, value"
    )
    return Query(name="funnels.breakdown", sql=sql, params=params.values, settings=query_settings())


def _selected(query: FunnelQuery, params: Params, step: int, status: str, breakdown_value: str | None) -> str:
    """The WHERE over person rows: reached step ``step`` (converted) or stopped just before it (dropped)."""
    test = f"reached > {step}" if status == "converted" else f"reached = {step}"
    if breakdown_value is not None and query.breakdown is not None:
        test += f" AND breakdown_value = {params.add(breakdown_value, 'String')}"
    return test


def compile_actors(
    *,
    project_id: int,
    query: FunnelQuery,
    step: int,
    status: str,
    breakdown_value: str | None,
    after: str | None,
    limit: int,
) -> Query:
    """A page of persons (by person id) who converted at / dropped before ``step``, with their properties."""
    params = new_params(project_id, query)
    persons = persons_sql(query, project_id, params, with_distinct_ids=True)
    where = _selected(query, params, step, status, breakdown_value)
    if after:
        where += f" AND toString(person_id) > {params.add(after, 'String')}"
    page = params.add(limit, "UInt32")
    sql = (
        "SELECT toString(p.person_id) AS person_id, p.distinct_ids AS distinct_ids, p.reached AS reached,"
        " p.times AS times, ifNull(props.properties, '{}') AS properties FROM ("
        f"SELECT person_id, distinct_ids, reached, times FROM ({persons}) WHERE {where}"
        f" ORDER BY toString(person_id) LIMIT {page}) AS p"
        " LEFT JOIN (SELECT person_id, argMax(properties, version) AS properties FROM persons"
        " WHERE project_id = {project_id:UInt64} GROUP BY person_id) AS props ON props.person_id = p.person_id"
        " ORDER BY person_id"
    )
    return Query(name="funnels.actors", sql=sql, params=params.values, settings={"join_use_nulls": 1})


def compile_actor_ids(
    *, project_id: int, query: FunnelQuery, step: int, status: str, breakdown_value: str | None, limit: int
) -> Query:
    """Every distinct id of the selected persons (for saving them as a segment)."""
    params = new_params(project_id, query)
    persons = persons_sql(query, project_id, params, with_distinct_ids=True)
    where = _selected(query, params, step, status, breakdown_value)
    sql = (
        f"SELECT arrayJoin(distinct_ids) AS distinct_id FROM ({persons}) WHERE {where}"
        f" ORDER BY distinct_id LIMIT {params.add(limit, 'UInt32')}"
    )
    return Query(name="funnels.actor_ids", sql=sql, params=params.values, settings=query_settings())


def compile_durations(*, project_id: int, query: FunnelQuery, from_step: int, to_step: int) -> Query:
    """min, max and count of the seconds from ``from_step`` to ``to_step`` of the persons who reached it."""
    params = new_params(project_id, query)
    persons = persons_sql(query, project_id, params)
    seconds = f"(times[{to_step + 1}] - times[{from_step + 1}]) / 1000"
    sql = (
        f"SELECT count() AS n, min(s) AS low, max(s) AS high FROM"
        f" (SELECT {seconds} AS s FROM ({persons}) WHERE reached > {to_step})"
    )
    return Query(name="funnels.durations", sql=sql, params=params.values, settings=query_settings())


def compile_histogram(
    *, project_id: int, query: FunnelQuery, from_step: int, to_step: int, low: float, width: float, bins: int
) -> Query:
    """Persons per bin of the seconds from ``from_step`` to ``to_step`` (the last bin closed)."""
    params = new_params(project_id, query)
    persons = persons_sql(query, project_id, params)
    seconds = f"(times[{to_step + 1}] - times[{from_step + 1}]) / 1000"
    low_p, width_p, last = params.add(low, "Float64"), params.add(width, "Float64"), params.add(bins - 1, "Int64")
    sql = (
        f"SELECT least(toInt64(floor(({seconds} - {low_p}) / {width_p})), {last}) AS bin, count() AS persons"
        f" FROM ({persons}) WHERE reached > {to_step} GROUP BY bin ORDER BY bin"
    )
    return Query(name="funnels.histogram", sql=sql, params=params.values, settings=query_settings())


def compile_trend(*, project_id: int, query: FunnelQuery, interval: str, to_step: int) -> Query:
    """Persons entering per day/week of their counted attempt's entry, and how many reached ``to_step``."""
    params = new_params(project_id, query)
    persons = persons_sql(query, project_id, params)
    sql = (
        f"SELECT {ENTRY_BUCKETS[interval]} AS bucket, count() AS entered, countIf(reached > {to_step}) AS converted"
        f" FROM ({persons}) GROUP BY bucket ORDER BY bucket"
    )
    return Query(name="funnels.trend", sql=sql, params=params.values, settings=query_settings())


MAX_DISTINCT_PATHS = 100_000
_URL_PATH = "if(position(url, '://') > 0, path(url), cutQueryStringAndFragment(url))"


def compile_paths(*, project_id: int, query: PathsQuery) -> Query:
    """Distinct paths (arrays of labels, anchor first; before ``end`` they run backwards in time)
    with the persons who took each, most taken first, at most :data:`MAX_DISTINCT_PATHS` + 1 rows."""
    anchor_step = query.start or query.end
    assert anchor_step is not None  # the serializer requires one
    params = Params(
        project_id=project_id,
        start=query.date_from,
        end=query.date_to,
        start_ms=int(query.date_from.timestamp() * 1000),
        end_ms=int(query.date_to.timestamp() * 1000),
        window_ms=query.window_seconds * 1000,
        depth=query.depth,
        max_paths=MAX_DISTINCT_PATHS + 1,
    )
    common = filter_sql(query.filters, params) if query.filters is not None else None
    is_anchor = step_sql(anchor_step, params, common)
    where = [
        "project_id = {project_id:UInt64}",
        "toUnixTimestamp64Milli(timestamp) >= {start_ms:Int64} - {window_ms:Int64}",
        "toUnixTimestamp64Milli(timestamp) <= {end_ms:Int64} + {window_ms:Int64}",
    ]
    label = "event"
    if query.path_type == "url":
        pageview = "(event = '$pageview' AND url != '')"
        where.append(f"({pageview} OR {is_anchor})")
        label = f"if({pageview}, {_URL_PATH}, event)"
    if common:
        where.append(common)
    segment = segment_sql(query.segment, project_id, params)
    if segment:
        where.append(segment)
    in_range = "x.3 = 1 AND x.1 >= {start_ms:Int64} AND x.1 < {end_ms:Int64}"
    if query.start is not None:
        anchor = f"arrayFirstIndex(x -> {in_range}, evs)"
        raw = "arrayFilter(x -> x.1 <= evs[anchor].1 + {window_ms:Int64}, arraySlice(evs, anchor))"
    else:
        anchor = f"arrayLastIndex(x -> {in_range}, evs)"
        raw = "arrayReverse(arrayFilter(x -> x.1 >= evs[anchor].1 - {window_ms:Int64}, arraySlice(evs, 1, anchor)))"
    labels = f"arrayMap(x -> x.2, {raw})"
    collapsed = "arrayFilter((name, i) -> i = 1 OR name != names[i - 1], names, arrayEnumerate(names))"
    sql = (
        "SELECT path, count() AS persons FROM ("
        f"SELECT arraySlice({collapsed}, 1, {{depth:UInt32}}) AS path FROM ("
        f"SELECT {labels} AS names FROM ("
        f"SELECT person_id, arraySort(x -> (x.1, x.2), groupArray((ts, label, anchor_flag))) AS evs, {anchor} AS anchor"
        f" FROM (SELECT person_id, toUnixTimestamp64Milli(timestamp) AS ts, {label} AS label,"
        f" toUInt8({is_anchor}) AS anchor_flag FROM events WHERE {' AND '.join(where)})"
        " GROUP BY person_id) WHERE anchor > 0))"
        " GROUP BY path ORDER BY persons DESC, path LIMIT {max_paths:UInt32}"
    )
    return Query(name="paths.query", sql=sql, params=params.values, settings=query_settings())
