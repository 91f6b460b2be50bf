"""Funnels to ClickHouse SQL: per-person moment arrays, every attempt advanced step by step.

The semantics are stated in the package docstring (``analytics/funnels/__init__.py``);
this module implements them in three layers, each a subquery of the next:

1. ``_events_sql``: the events of ``[from, to + window]`` that match a step or an exclusion
   (every event of the person for strict funnels), each with a bit mask: bit ``k`` for step
   ``k``, bit ``n + j`` for exclusion ``j`` (0: some other event).
2. ``persons_sql``: per person, the events sorted by time as parallel arrays (``ts``,
   ``masks``, ``vals``), collected as one integer per event (``_key_layout``: time offset
   and mask in one sort key) and unpacked after a plain integer sort; events at the same
   millisecond form a moment (``starts``/``ends`` flag its first and last event). For every
   step j, ``t<j>`` holds, at each entry position, the time at which that entry's attempt
   matches step j (a huge sentinel when it does not): built backwards from the last step to
   step 0 with ``arrayReverseFill`` ("the nearest event with this step's bit at or after
   here") read at the first event of the next moment, carrying the later steps' times along
   as a tuple (``_step_times``), aligned array operations only, so the cost is events x
   steps (x the tuple width) and never events x entries.
   Exclusions carry "the first exclusion in a moment after step a" back to the entry the same
   way. The counted attempt is the first entry with the most steps (``arrayFirstIndex``):
   furthest step, ties the earliest entry. Columns: ``person_id``, ``reached`` (steps
   reached, >= 1), ``times`` (ms of each reached step), ``entry_ms``, ``breakdown_value``
   (text, '' when not set or not reached) and optionally ``distinct_ids``.
3. the answers (``compile_steps``, ``compile_actors``, ``compile_histogram``,
   ``compile_trend``) aggregate those person rows.

Every user value is a typed parameter; the tenant guard sees ``project_id =
{project_id:UInt64}`` on every read of ``events`` and ``persons``.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from analytics.funnels.model import FunnelQuery, PathsQuery, SegmentFilter, Step
from analytics.query.compiler.filters import PERSONS_SQL, filter_sql, json_views, property_views
from analytics.query.compiler.params import Params
from analytics.query.membership import segment_membership_sql
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
        base_ms=_base_ms(query),
        read_end=query.date_to + timedelta(seconds=query.window_seconds),
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
    return segment_membership_sql(
        project_id=project_id, segment_id=segment.segment_id, params=params, negate=segment.negate
    )


def _events_sql(query: FunnelQuery, project_id: int, params: Params) -> str:
    """The person's events that matter, each with its bit mask (0: some other event, strict only)."""
    common = filter_sql(query.filters, params) if query.filters is not None else None
    tests = [step_sql(step, params, common) for step in query.steps]
    tests += [
        step_sql(Step(events=exclusion.events, filters=exclusion.filters), params, common)
        for exclusion in query.exclusions
    ]
    mask = " + ".join(f"if({test}, toUInt64({1 << bit}), toUInt64(0))" for bit, test in enumerate(tests))
    where = [
        "project_id = {project_id:UInt64}",
        "timestamp >= {start:DateTime64(3, 'UTC')}",
        "timestamp <= {read_end:DateTime64(3, 'UTC')}",
    ]
    if query.order != "strict":
        names = sorted({name for step in query.steps for name in step.events} | _exclusion_names(query))
        where.append(f"event IN {params.add(names, 'Array(String)')}")
    segment = segment_sql(query.segment, project_id, params)
    if segment:
        where.append(segment)
    value = "''"
    if query.breakdown is not None and query.breakdown.type == "event":
        value = f"ifNull({property_views(query.breakdown.key, params).text}, '')"
    keep = "" if query.order == "strict" else " WHERE m != 0"
    return (
        f"SELECT person_id, distinct_id, ts, m, v FROM (SELECT person_id, distinct_id,"
        f" toUnixTimestamp64Milli(timestamp) AS ts, {mask} AS m, {value} AS v"
        f" FROM events WHERE {' AND '.join(where)}){keep}"
    )


def _exclusion_names(query: FunnelQuery) -> set[str]:
    return {name for exclusion in query.exclusions for name in exclusion.events}


_WINDOW = "{window_ms:Int64}"
_BASE = "{base_ms:Int64}"


def _base_ms(query: FunnelQuery) -> int:
    """The origin of the sort keys: a second before ``from``, so that no event read is before it."""
    return int(query.date_from.timestamp()) * 1000 - 1000


def _key_layout(query: FunnelQuery) -> tuple[int, str]:
    """Each event travels as one integer, ``(ts - base) << bits | mask``: one plain integer
    array to collect and sort per person instead of an array of tuples (sorted with a key
    lambda and unpacked), which is most of the query's cost. Sorting the keys sorts by time
    (ties by mask, which no answer depends on). UInt64 when the offset and mask fit, else
    UInt128."""
    bits = len(query.steps) + len(query.exclusions)
    read_end_ms = int(query.date_to.timestamp() * 1000) + query.window_ms
    span = read_end_ms - _base_ms(query) + 1
    return bits, "UInt64" if span.bit_length() + bits <= 64 else "UInt128"


# "No such moment": a time later than any event, so it is never inside a window.
_NEVER = "toInt64(9000000000000000000)"


def _never(width: int) -> str:
    """_NEVER, or a tuple of ``width`` of them for the arrays of tuples of ``_step_times``."""
    return _NEVER if width == 1 else "tuple(" + ", ".join([_NEVER] * width) + ")"


def _only(values: str, bit: int, never: str = _NEVER) -> str:
    """``values`` where the event has ``bit``, _NEVER elsewhere."""
    return f"arrayMap((x, m) -> if(bitTest(m, {bit}), x, {never}), {values}, masks)"


def _at_or_after(values: str, bit: int, never: str = _NEVER) -> str:
    """At each position, ``values`` of the nearest event at or after it with ``bit`` (else _NEVER)."""
    return f"arrayReverseFill((x, m) -> bitTest(m, {bit}), {_only(values, bit, never)}, masks)"


def _next_moment(values: str, never: str = _NEVER) -> str:
    """At each position, ``values`` at the first event of the next moment (_NEVER after the last):
    the value one position after the moment's last event, spread over the moment's events."""
    return f"arrayReverseFill((y, e) -> e, arrayShiftLeft({values}, 1, {never}), ends)"


def _moment_start(values: str) -> str:
    """At each position, ``values`` at the first event of its moment."""
    return f"arrayFill((y, s) -> s, {values}, starts)"


def _step_back(values: str, bit: int, order: str) -> str:
    """From values known where step ``bit`` matched, the same values seen from step ``bit - 1``:
    ordered, at the first event with the bit in a later moment; strict, only if the very next
    moment has an event with the bit."""
    if order == "strict":
        found = _next_moment(_at_or_after(values, bit))
        found_at = _next_moment(_at_or_after("ts", bit))
        return f"arrayMap((c, ct, nt) -> if(ct = nt, c, {_NEVER}), {found}, {found_at}, next_ts)"
    return _next_moment(_at_or_after(values, bit))


def _chain(values: str, level: int, order: str) -> str:
    """Seen from each entry position: ``values`` at the moment where its attempt matches step
    ``level`` (_NEVER when it does not). Built backwards from step ``level`` to step 0 with
    aligned array operations only (no per-entry lookups), so the cost is events x steps."""
    for bit in range(level, 0, -1):
        values = _step_back(values, bit, order)
    return values


def _step_times(n: int, order: str) -> str:
    """Seen from each entry position: the times at which its attempt matches steps 1 .. n - 1
    (a tuple, or the one time when n = 2; _NEVER where it does not). One step back per step
    for all the later steps at once: the values carried back from step ``bit`` are the tuple
    (its own time, the later steps' times seen from it), so step k's fills are shared by
    every later step instead of being redone once per step (as ``_chain`` does)."""
    values, width = "ts", 1
    for bit in range(n - 1, 0, -1):
        never = _never(width)
        found = _next_moment(_at_or_after(values, bit, never), never)
        if order == "strict":
            # the first element is the found event's own time: it must be the very next moment
            first = "c" if width == 1 else "c.1"
            found = f"arrayMap((c, nt) -> if({first} = nt, c, {never}), {found}, next_ts)"
        if bit == 1:
            return found
        later = "f" if width == 1 else ", ".join(f"f.{index}" for index in range(1, width + 1))
        values, width = f"arrayMap((t, f) -> tuple(t, {later}), ts, {found})", width + 1
    raise AssertionError("a funnel has at least two steps")


def _attempt_columns(query: FunnelQuery) -> tuple[list[str], str]:
    """SELECT columns over ``ts``/``masks``: ``reached_all`` (steps each entry's attempt reaches,
    0 for non-entries and void attempts) and the counted attempt's step times as SQL."""
    n = len(query.steps)
    in_range = "t >= {start_ms:Int64} AND t < {end_ms:Int64}"
    if query.order == "unordered":
        columns = [f"{_moment_start(_at_or_after('ts', k))} AS f{k}" for k in range(n)]
        names = [f"f{k}" for k in range(n)]
        done = " + ".join(f"({name} <= t + {_WINDOW})" for name in names)
        entry = f"bitAnd(m, {(1 << n) - 1}) != 0"
        columns.append(
            f"arrayMap((t, m, {', '.join(names)}) -> if({entry} AND {in_range}, toUInt8({done}), 0),"
            f" ts, masks, {', '.join(names)}) AS reached_all"
        )
        firsts = ", ".join(f"f{k}[best]" for k in range(n))
        times = f"arraySort(arrayFilter(x -> x <= ts[best] + {_WINDOW}, [{firsts}]))"
        return columns, times
    if n == 2:
        columns = [f"{_step_times(n, query.order)} AS t1"]
    else:
        columns = [f"{_step_times(n, query.order)} AS chain"]
        columns += [f"arrayMap(c -> c.{level}, chain) AS t{level}" for level in range(1, n)]
    names = ["ts"] + [f"t{level}" for level in range(1, n)]
    void_names = []
    for index, exclusion in enumerate(query.exclusions):
        low, high, bit = exclusion.from_step, exclusion.to_step, n + index
        # the first exclusion moment after the attempt's step ``low``, seen from the entry
        columns.append(f"{_chain(_next_moment(_at_or_after('ts', bit)), low, query.order)} AS x{index}")
        columns.append(
            f"arrayMap((t, r, x, h) -> r > {low} AND x < {_NEVER} AND if(r > {high}, x < h, x <= t + {_WINDOW}),"
            f" ts, reached_raw, x{index}, t{high}) AS void{index}"
        )
        void_names.append(f"void{index}")
    lambda_args = ", ".join(["t", "m"] + [f"a{level}" for level in range(1, n)])
    raw = "1 + " + " + ".join(f"(a{level} <= t + {_WINDOW})" for level in range(1, n))
    columns.append(
        f"arrayMap(({lambda_args}) -> if(bitTest(m, 0) AND {in_range}, toUInt8({raw}), 0),"
        f" ts, masks, {', '.join(names[1:])}) AS reached_raw"
    )
    if void_names:
        columns.append(
            f"arrayMap((r, {', '.join(void_names)}) -> if({' OR '.join(void_names)}, 0, r),"
            f" reached_raw, {', '.join(void_names)}) AS reached_all"
        )
    else:
        columns.append("reached_raw AS reached_all")
    times = "arraySlice([" + ", ".join(f"{name}[best]" for name in names) + "], 1, reached)"
    return columns, times


def _value_sql(query: FunnelQuery) -> str:
    breakdown = query.breakdown
    if breakdown is None or breakdown.type != "event":
        return "''"
    if breakdown.attribution == "first_touch":
        return "values[1]"
    if breakdown.attribution == "last_touch":
        return "values[reached]"
    return f"if(reached > {breakdown.step}, values[{(breakdown.step or 0) + 1}], '')"


def _moment_value_sql(query: FunnelQuery) -> str:
    """The value of each of the counted attempt's steps: the smallest among the step events of its moment."""
    step_bits = (1 << len(query.steps)) - 1
    return (
        "arrayMap(t -> arrayReduce('min', arrayFilter((v, vt, m) -> vt = t AND bitAnd(m, "
        f"{step_bits}) != 0, vals, ts, masks)), times)"
    )


def persons_sql(query: FunnelQuery, project_id: int, params: Params, *, with_distinct_ids: bool = False) -> str:
    """One row per person counted by the funnel (see the module docstring).

    Columns: ``person_id``, ``reached`` (steps reached, >= 1), ``times`` (ms of each reached
    step), ``entry_ms``, ``breakdown_value`` and, if asked, ``distinct_ids``.
    """
    columns, times = _attempt_columns(query)
    events = _events_sql(query, project_id, params)
    ids = ", groupUniqArray(distinct_id) AS distinct_ids" if with_distinct_ids else ""
    ids_out = ", distinct_ids" if with_distinct_ids else ""
    values = _moment_value_sql(query) if query.breakdown is not None and query.breakdown.type == "event" else "times"
    # Moment bounds: unordered reads from a moment's first event, the others jump past its last.
    if query.order == "unordered":
        moments = "arrayMap((t, p) -> t != p, ts, arrayShiftRight(ts, 1, toInt64(-1))) AS starts"
    else:
        moments = "arrayMap((t, f) -> t != f, ts, arrayShiftLeft(ts, 1, toInt64(-1))) AS ends"
    if query.order == "strict":
        moments += f", {_next_moment('ts')} AS next_ts"
    with_values = query.breakdown is not None and query.breakdown.type == "event"
    bits, key_type = _key_layout(query)
    # Event breakdown values ride along only when asked for: a String per event costs. They
    # are sorted by the same keys; events with equal keys (same moment and mask) may swap
    # values, which the moment's smallest value (``_moment_value_sql``) does not see.
    raw_vals, vals = (
        (", groupArray(v) AS raw_vals", ", arraySort((v, k) -> k, raw_vals, raw_keys) AS vals")
        if with_values
        else ("", "")
    )
    sql = (
        f"SELECT person_id, reached, times, times[1] AS entry_ms, {_value_sql(query)} AS breakdown_value{ids_out}"
        f" FROM (SELECT person_id, reached, times, {values} AS values{ids_out}"
        f" FROM (SELECT person_id, ts, masks{', vals' if with_values else ''}, {moments}, {', '.join(columns)},"
        " arrayMax(reached_all) AS reached,"
        f" arrayFirstIndex(r -> r = reached, reached_all) AS best, {times} AS times{ids_out} FROM ("
        f"SELECT person_id, arrayMap(k -> toInt64(bitShiftRight(k, {bits})) + {_BASE}, keys) AS ts,"
        f" arrayMap(k -> toUInt64(bitAnd(k, {(1 << bits) - 1})), keys) AS masks{', vals' if with_values else ''}{ids_out}"
        f" FROM (SELECT person_id, arraySort(raw_keys) AS keys{vals}{ids_out} FROM ("
        f"SELECT person_id, groupArray(bitShiftLeft(to{key_type}(ts - {_BASE}), {bits}) + m) AS raw_keys{raw_vals}{ids}"
        f" FROM ({events}) GROUP BY person_id))) WHERE reached > 0))"
    )
    if query.breakdown is None or query.breakdown.type != "person":
        return sql
    # A person breakdown is the person's latest live property (no row: not set), whatever the attempt.
    person_value = f"ifNull({json_views('person_properties', query.breakdown.key, params).text}, '')"
    return (
        f"SELECT funnel.person_id AS person_id, reached, times, entry_ms, {person_value} AS breakdown_value"
        f"{', distinct_ids' if with_distinct_ids else ''} FROM ({sql}) AS funnel"
        f" LEFT JOIN (SELECT person_id, properties AS person_properties FROM ({PERSONS_SQL})) AS breakdown_persons"
        " ON breakdown_persons.person_id = funnel.person_id"
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
    # Values ranked by persons entering (ties by value) with window functions: the persons
    # subquery runs once.
    sql = (
        f"SELECT is_top, value, {columns} FROM ("
        f"SELECT *, if(is_top, breakdown_value, '{OTHER}') AS value FROM ({_ranked(persons, limit)}))"
        " GROUP BY GROUPING SETS ((is_top, value), ()) ORDER BY is_top DESC, count_0 DESC, value"
    )
    return Query(name="funnels.breakdown", sql=sql, params=params.values, settings=query_settings())


def _ranked(persons: str, limit: str) -> str:
    """The person rows with ``is_top``: their breakdown value is among the ``limit`` values most
    persons entered with (ties by value), as the steps answer ranks them."""
    return (
        f"SELECT *, rank_ <= {limit} AS is_top FROM ("
        "SELECT *, dense_rank() OVER (ORDER BY volume DESC, breakdown_value) AS rank_ FROM ("
        f"SELECT *, count() OVER (PARTITION BY breakdown_value) AS volume FROM ({persons})))"
    )


def _selected(
    query: FunnelQuery, params: Params, persons: str, step: int, status: str, breakdown_value: str | None
) -> tuple[str, str]:
    """(source, WHERE) over person rows: reached step ``step`` (converted) or stopped just before
    it (dropped); with a breakdown value, of that value ("" not set; "$other" outside the top)."""
    test = f"reached > {step}" if status == "converted" else f"reached = {step}"
    if breakdown_value is None or query.breakdown is None:
        return persons, test
    if breakdown_value == OTHER:
        return _ranked(persons, params.add(query.breakdown.limit, "UInt32")), f"{test} AND NOT is_top"
    return persons, f"{test} AND breakdown_value = {params.add(breakdown_value, 'String')}"


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
    source, where = _selected(
        query, params, persons_sql(query, project_id, params, with_distinct_ids=True), step, status, breakdown_value
    )
    if after:
        where += f" AND toString(person_id) > {params.add(after, 'String')}"
    page = params.add(limit, "UInt32")
    sql = (
        "SELECT toString(p.person_id) AS person_id, p.distinct_ids AS distinct_ids, p.reached AS reached,"
        " p.times AS times, ifNull(props.properties, '{}') AS properties FROM ("
        f"SELECT person_id, distinct_ids, reached, times FROM ({source}) WHERE {where}"
        f" ORDER BY toString(person_id) LIMIT {page}) AS p"
        f" LEFT JOIN ({PERSONS_SQL}) AS props ON props.person_id = p.person_id"
        " ORDER BY person_id"
    )
    return Query(name="funnels.actors", sql=sql, params=params.values, settings={"join_use_nulls": 1})


def compile_actor_ids(
    *, project_id: int, query: FunnelQuery, step: int, status: str, breakdown_value: str | None, limit: int
) -> Query:
    """Every distinct id of the selected persons (for saving them as a segment)."""
    params = new_params(project_id, query)
    source, where = _selected(
        query, params, persons_sql(query, project_id, params, with_distinct_ids=True), step, status, breakdown_value
    )
    sql = (
        f"SELECT arrayJoin(distinct_ids) AS distinct_id FROM ({source}) WHERE {where}"
        f" ORDER BY distinct_id LIMIT {params.add(limit, 'UInt32')}"
    )
    return Query(name="funnels.actor_ids", sql=sql, params=params.values, settings=query_settings())


def compile_histogram(*, project_id: int, query: FunnelQuery, from_step: int, to_step: int, bins: int) -> Query:
    """Persons per equal-width bin of the seconds from ``from_step`` to ``to_step``, from the
    fastest (``low``) to the slowest (``high``); each bin ``[from, to)``, the last closed."""
    params = new_params(project_id, query)
    persons = persons_sql(query, project_id, params)
    seconds = f"(times[{to_step + 1}] - times[{from_step + 1}]) / 1000"
    count = params.add(bins, "Int64")
    sql = (
        "SELECT bin, count() AS persons, any(low) AS low, any(high) AS high FROM ("
        f"SELECT if(high = low, 0, least(toInt64(floor((s - low) / ((high - low) / {count}))), {count} - 1)) AS bin,"
        " low, high FROM ("
        "SELECT s, min(s) OVER () AS low, max(s) OVER () AS high FROM ("
        f"SELECT {seconds} AS s FROM ({persons}) WHERE reached > {to_step})))"
        " GROUP BY bin ORDER BY bin"
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
    with the persons who took each, most taken first, at most :data:`MAX_DISTINCT_PATHS` + 1 rows.

    Labels travel as numbers: ``labels`` is the sorted distinct labels of the events read, and
    each event is one UInt128 key ``(ts - base) << 64 | code << 1 | anchor_flag`` with ``code``
    the label's 1-based position there. Sorting the plain keys sorts by (time, label) as the
    semantics ask, the paths are grouped as arrays of codes, and only the distinct paths are
    turned back into text: no String per event is collected or sorted."""
    anchor_step = query.start or query.end
    assert anchor_step is not None  # the serializer requires one
    # A path never reaches before ``from`` (after a start event) or after ``to`` (before an end event).
    read_from = (
        query.date_from if query.start is not None else query.date_from - timedelta(seconds=query.window_seconds)
    )
    params = Params(
        project_id=project_id,
        start_ms=int(query.date_from.timestamp() * 1000),
        end_ms=int(query.date_to.timestamp() * 1000),
        window_ms=query.window_seconds * 1000,
        read_start=read_from,
        read_end=query.date_to + timedelta(seconds=query.window_seconds) if query.start is not None else query.date_to,
        base_ms=int(read_from.timestamp()) * 1000 - 1000,
        depth=query.depth,
        max_paths=MAX_DISTINCT_PATHS + 1,
    )
    common = filter_sql(query.filters, params) if query.filters is not None else None
    is_anchor = step_sql(anchor_step, params, common)
    upper = "<=" if query.start is not None else "<"
    where = [
        "project_id = {project_id:UInt64}",
        "timestamp >= {read_start:DateTime64(3, 'UTC')}",
        f"timestamp {upper} {{read_end:DateTime64(3, 'UTC')}}",
    ]
    label = "event"
    if query.path_type == "url":
        pageview = "(event = '$pageview' AND url != '')"
        where.append(f"({pageview} OR {is_anchor})")
        label = f"if({pageview}, {_URL_PATH}, event)"
    if common:
        where.append(common)
    if query.exclude_events:
        where.append(f"(event NOT IN {params.add(list(query.exclude_events), 'Array(String)')} OR {is_anchor})")
    segment = segment_sql(query.segment, project_id, params)
    if segment:
        where.append(segment)
    ts = "(toInt64(bitShiftRight(k, 64)) + {base_ms:Int64})"
    in_range = f"bitAnd(k, 1) = 1 AND {ts} >= {{start_ms:Int64}} AND {ts} < {{end_ms:Int64}}"
    # Lambdas see only their own arguments and scalars (``anchor``, ``anchor_ts``): a captured
    # array would be copied once per element.
    if query.start is not None:
        anchor = f"arrayFirstIndex(k -> {in_range}, keys)"
        raw = f"arrayFilter(k -> {ts} <= anchor_ts + {{window_ms:Int64}}, arraySlice(keys, anchor))"
    else:
        anchor = f"arrayLastIndex(k -> {in_range}, keys)"
        raw = f"arrayReverse(arrayFilter(k -> {ts} >= anchor_ts - {{window_ms:Int64}}, arraySlice(keys, 1, anchor)))"
    previous = "arrayPushFront(arrayPopBack(names), 0)"
    collapsed = f"arrayFilter((name, before, i) -> i = 1 OR name != before, names, {previous}, arrayEnumerate(names))"
    events = f"FROM events WHERE {' AND '.join(where)}"
    sql = (
        f"WITH (SELECT arraySort(groupUniqArray({label})) {events}) AS labels"
        " SELECT arrayMap(c -> labels[c], codes) AS path, taken AS persons FROM ("
        f"SELECT arraySlice({collapsed}, 1, {{depth:UInt32}}) AS codes, count() AS taken FROM ("
        f"SELECT arrayMap(k -> toUInt32(bitShiftRight(toUInt64(bitAnd(k, {(1 << 64) - 1})), 1)), {raw}) AS names"
        " FROM (SELECT keys, anchor, toInt64(bitShiftRight(keys[anchor], 64)) + {base_ms:Int64} AS anchor_ts FROM ("
        f"SELECT person_id, arraySort(groupArray(key)) AS keys, {anchor} AS anchor FROM ("
        "SELECT person_id, bitShiftLeft(toUInt128(toUnixTimestamp64Milli(timestamp) - {base_ms:Int64}), 64)"
        f" + bitShiftLeft(toUInt64(transform({label}, labels, arrayEnumerate(labels), 0)), 1)"
        f" + toUInt8({is_anchor}) AS key {events})"
        " GROUP BY person_id) WHERE anchor > 0)) GROUP BY codes)"
        " ORDER BY persons DESC, path LIMIT {max_paths:UInt32}"
    )
    return Query(name="paths.query", sql=sql, params=params.values, settings=query_settings())
