"""Retention queries over ``events`` (and ``persons`` for person breakdowns) as parameterised SQL.

The semantics the SQL implements (``docs/retention.md`` states them for API users):

- **Who**: a user is a ``person_id``. Cohort events are events named ``cohort_event.event``
  that match its ``properties`` filters; return events likewise for ``return_event``.
  With a segment filter only the segment's persons (or, negated, everybody else) can
  enter a cohort.
- **Periods** are calendar days, ISO weeks (Monday 00:00) or months in the project's time
  zone (a day across a daylight-saving change lasts 23 or 25 hours). Period numbers are
  ``toRelativeDayNum`` / ``toRelativeWeekNum`` / ``toRelativeMonthNum`` in that zone, so
  period ``k`` of a cohort is the k-th calendar period after the cohort's own one.
- **first_time**: a user belongs to the cohort of the period of their first-ever cohort
  event (all of the project's history is searched), and only if that first event lies in
  ``[from, to)``. **recurring**: a user belongs to the cohort of every period in which they
  had a cohort event inside ``[from, to)``; each such (user, cohort) pair counts in its
  cohort independently, so one user can be counted in several cohorts (and several times
  in a column sum).
- **Period 0** is the cohort's own period: ``values[0]`` is always the cohort size, and
  return events inside period 0 do not count for anything.
- **Returns**: for ``k >= 1`` a cohort member counts in ``values[k]`` with ``returning:
  on`` if they have at least one return event whose period is exactly cohort + k; with
  ``on_or_after`` if they have one in period cohort + k or any later period (unbounded,
  so a return after the last followed period counts for every k). Only return events
  stamped before the query's ``now`` count.
- **Breakdown** value of a (user, cohort) pair: for an event property, the value on the
  user's cohort event (first_time: the first-ever one; recurring: the earliest one in that
  period); for a person property, the person's current value (``persons`` FINAL, latest
  version, not deleted). Text view of the property (``analytics.query.compiler.filters``);
  not set and empty are one group ``''``. The top ``limit`` values by number of (user,
  cohort) pairs (ties by value) keep their value, the rest are one group (``is_top = 0``).

- **distinct_id** of a listed user: the one on their cohort event (first_time: the
  first-ever one; recurring: the earliest one in ``[from, to)``).

How: one scan of ``events`` reads the cohort and return events together (each row flagged
``is_cohort`` / ``is_return``, return events only inside the window the runner computes),
one aggregation per user collects the first cohort event (or the cohort periods) and the
distinct return periods, and ``ks`` lists the cells a (user, cohort) pair counts in. No
join of events with events; only a person breakdown joins ``persons``.

The answer rows are ``(cohort_epoch, is_top, breakdown_value, k, users)``: the cohort's
start as Unix seconds, and how many (user, cohort) pairs count in cell ``k`` (``k = 0``:
the size). The runner shapes them and marks periods that have not started as null.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from analytics.cohorts.model import Cell, EventSpec, RetentionQuery
from analytics.query.compiler.filters import filter_sql, property_views
from analytics.query.compiler.params import Params
from analytics.query.membership import segment_membership_sql
from analytics.warehouse.guard import Query

_TZ = "{tz:String}"
PERIOD_NUMBER = {
    "day": "toRelativeDayNum({moment}, " + _TZ + ")",
    "week": "toRelativeWeekNum({moment}, " + _TZ + ")",
    "month": "toRelativeMonthNum({moment}, " + _TZ + ")",
}
# The start (Unix seconds) of the period with number ``{number}``: toRelativeDayNum counts days
# from 1970-01-01, toRelativeWeekNum weeks such that Monday = 7 * number - 3 days, and
# toRelativeMonthNum is year * 12 + month.
PERIOD_START = {
    "day": "toUnixTimestamp(toDateTime(toDate('1970-01-01') + {number}, " + _TZ + "))",
    "week": "toUnixTimestamp(toDateTime(toDate('1970-01-01') + ({number} * 7 - 3), " + _TZ + "))",
    "month": "toUnixTimestamp(toDateTime(makeDate(intDiv({number} - 1, 12), ({number} - 1) % 12 + 1, 1), " + _TZ + "))",
}
_PROJECT = "project_id = {project_id:UInt64}"
_IN_RANGE = "timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
_RETURN_WINDOW = "timestamp >= {returns_from:DateTime64(3, 'UTC')} AND timestamp < {returns_to:DateTime64(3, 'UTC')}"


def _number(query: RetentionQuery, moment: str) -> str:
    return PERIOD_NUMBER[query.period].replace("{moment}", moment)


def _start(query: RetentionQuery, number: str) -> str:
    return PERIOD_START[query.period].replace("{number}", number)


def _matches(spec: EventSpec, params: Params) -> str:
    parts = [f"event = {params.add(spec.event, 'String')}"]
    if spec.filters is not None:
        parts.append(filter_sql(spec.filters, params))
    return "(" + " AND ".join(parts) + ")"


def _segment_where(query: RetentionQuery, project_id: int, params: Params) -> list[str]:
    if query.segment is None:
        return []
    return [
        segment_membership_sql(
            project_id=project_id, segment_id=query.segment.segment_id, params=params, negate=query.segment.negated
        )
    ]


def _event_value(query: RetentionQuery, params: Params) -> str:
    if query.breakdown is None or query.breakdown.type != "event":
        return "''"
    return f"ifNull({property_views(query.breakdown.key, params).text}, '')"


def _flagged_events_sql(query: RetentionQuery, project_id: int, params: Params) -> str:
    """One scan of ``events``: the cohort and return events, each flagged, with its period number."""
    is_cohort = _matches(query.cohort_event, params)
    if query.mode == "recurring":
        is_cohort = f"({is_cohort} AND {_IN_RANGE})"
    is_return = f"({_matches(query.return_event, params)} AND {_RETURN_WINDOW})"
    where = " AND ".join([_PROJECT, "(is_cohort OR is_return)", *_segment_where(query, project_id, params)])
    return (
        f"SELECT person_id, timestamp, distinct_id, {_number(query, 'timestamp')} AS num,"
        f" {is_cohort} AS is_cohort, {is_return} AS is_return, {_event_value(query, params)} AS value"
        f" FROM events WHERE {where}"
    )


def _first_time_sql(flagged: str, query: RetentionQuery, *, with_distinct_id: bool) -> str:
    """Per user with a first-ever cohort event in [from, to): its period, value and distinct id."""
    value = "argMinIf(value, timestamp, is_cohort)" if _event_breakdown(query) else "''"
    distinct_id = "argMinIf(distinct_id, timestamp, is_cohort)" if with_distinct_id else "''"
    per_user = (
        f"SELECT person_id, minIf(timestamp, is_cohort) AS first_at, {value} AS first_value,"
        f" {distinct_id} AS first_distinct_id, groupUniqArrayIf(num, is_return) AS return_nums"
        f" FROM ({flagged}) GROUP BY person_id"
        " HAVING countIf(is_cohort) > 0"
        " AND first_at >= {start:DateTime64(3, 'UTC')} AND first_at < {end:DateTime64(3, 'UTC')}"
    )
    return (
        f"SELECT person_id, {_number(query, 'first_at')} AS cohort_num, first_value AS cohort_value,"
        f" first_distinct_id AS cohort_distinct_id, return_nums FROM ({per_user})"
    )


def _event_breakdown(query: RetentionQuery) -> bool:
    return query.breakdown is not None and query.breakdown.type == "event"


def _recurring_sql(flagged: str, query: RetentionQuery, *, with_distinct_id: bool) -> str:
    """Per (user, period with a cohort event in [from, to)); the value is the earliest cohort event's.

    Without an event breakdown one aggregation per user suffices; with one, a first
    aggregation per (user, period) finds each period's earliest cohort event.
    """
    if not _event_breakdown(query):
        distinct_id = "argMinIf(distinct_id, timestamp, is_cohort)" if with_distinct_id else "''"
        per_user = (
            "SELECT person_id, groupUniqArrayIf(num, is_cohort) AS cohort_nums,"
            f" {distinct_id} AS first_distinct_id,"
            f" groupUniqArrayIf(num, is_return) AS return_nums FROM ({flagged}) GROUP BY person_id"
            " HAVING notEmpty(cohort_nums)"
        )
        return (
            "SELECT person_id, cohort_num, '' AS cohort_value, first_distinct_id AS cohort_distinct_id, return_nums"
            f" FROM ({per_user}) ARRAY JOIN cohort_nums AS cohort_num"
        )
    per_period = (
        "SELECT person_id, num, max(is_cohort) AS has_cohort, max(is_return) AS has_return,"
        " argMinIf(value, timestamp, is_cohort) AS first_value, minIf(timestamp, is_cohort) AS first_at,"
        " argMinIf(distinct_id, timestamp, is_cohort) AS first_distinct_id"
        f" FROM ({flagged}) GROUP BY person_id, num"
    )
    per_user = (
        "SELECT person_id, groupArrayIf((num, first_value), has_cohort) AS cohorts,"
        " argMinIf(first_distinct_id, first_at, has_cohort) AS user_distinct_id,"
        f" groupArrayIf(num, has_return) AS return_nums FROM ({per_period}) GROUP BY person_id"
        " HAVING notEmpty(cohorts)"
    )
    return (
        "SELECT person_id, cohort.1 AS cohort_num, cohort.2 AS cohort_value,"
        f" user_distinct_id AS cohort_distinct_id, return_nums FROM ({per_user}) ARRAY JOIN cohorts AS cohort"
    )


def _with_person_value(members: str, query: RetentionQuery, params: Params) -> str:
    """The members with the person property as ``cohort_value`` (latest version, not deleted)."""
    assert query.breakdown is not None
    key = params.add(query.breakdown.key, "String")
    persons = (
        f"SELECT person_id, ifNull(JSONExtract(properties, {key}, 'Nullable(String)'), '') AS person_value"
        f" FROM persons FINAL WHERE {_PROJECT} AND is_deleted = 0"
    )
    return (
        "SELECT m.person_id AS person_id, m.cohort_num AS cohort_num,"
        " p.person_value AS cohort_value, m.cohort_distinct_id AS cohort_distinct_id, m.return_nums AS return_nums"
        f" FROM ({members}) AS m LEFT JOIN ({persons}) AS p ON m.person_id = p.person_id"
    )


def _cells_sql(query: RetentionQuery, project_id: int, params: Params, *, with_distinct_id: bool = False) -> str:
    """``WITH cells AS (...)``: per (user, cohort) the breakdown value and the cells ``ks`` they count in."""
    flagged = _flagged_events_sql(query, project_id, params)
    members_sql = _first_time_sql if query.mode == "first_time" else _recurring_sql
    members = members_sql(flagged, query, with_distinct_id=with_distinct_id)
    if query.breakdown is not None and query.breakdown.type == "person":
        members = _with_person_value(members, query, params)
    periods = params.add(query.periods, "UInt32")
    offsets = "arrayMap(n -> toInt64(n) - toInt64(cohort_num), arrayFilter(n -> n > cohort_num, return_nums))"
    if query.returning == "on":
        ks = f"arrayPushFront(arraySort(arrayFilter(x -> x <= {periods}, {offsets})), 0)"
    else:
        ks = f"range(0, toUInt32(least(arrayMax(arrayPushFront({offsets}, 0)), {periods})) + 1)"
    return (
        f"WITH cells AS (SELECT person_id, cohort_num, cohort_value, cohort_distinct_id, {ks} AS ks FROM ({members}))"
    )


def _settings() -> dict[str, object]:
    return {"join_use_nulls": 0, "max_execution_time": settings.CLICKHOUSE_QUERY_TIMEOUT}


def _base_params(query: RetentionQuery, project_id: int, *, returns_from: datetime, returns_to: datetime) -> Params:
    return Params(
        project_id=project_id,
        start=query.date_from,
        end=query.date_to,
        tz=query.time_zone,
        returns_from=returns_from,
        returns_to=returns_to,
    )


def compile_retention(*, project_id: int, query: RetentionQuery, returns_from: datetime, returns_to: datetime) -> Query:
    """Rows ``(cohort_epoch, is_top, breakdown_value, k, users)``; see the module docstring."""
    params = _base_params(query, project_id, returns_from=returns_from, returns_to=returns_to)
    cells = _cells_sql(query, project_id, params)
    if query.breakdown is None:
        grouping = "1 AS is_top, '' AS breakdown_value"
    else:
        limit = params.add(query.breakdown.limit, "UInt32")
        top = f"SELECT cohort_value FROM cells GROUP BY cohort_value ORDER BY count() DESC, cohort_value LIMIT {limit}"
        grouping = f"cohort_value IN ({top}) AS is_top, if(is_top, cohort_value, '') AS breakdown_value"
    sql = (
        f"{cells} SELECT {_start(query, 'cohort_num')} AS cohort_epoch, is_top, breakdown_value, k, users FROM ("
        f"SELECT cohort_num, is_top, breakdown_value, k, count() AS users FROM ("
        f"SELECT cohort_num, {grouping}, arrayJoin(ks) AS k FROM cells)"
        " GROUP BY cohort_num, is_top, breakdown_value, k) ORDER BY cohort_num, is_top DESC, breakdown_value, k"
    )
    return Query(name="cohorts.retention", sql=sql, params=params.values, settings=_settings())


def compile_cell_users(
    *,
    project_id: int,
    query: RetentionQuery,
    cell: Cell,
    returns_from: datetime,
    returns_to: datetime,
    after: str | None,
    limit: int,
) -> Query:
    """Rows ``(person, distinct_id)`` of one cell, by ``person_id``, after the cursor ``after``.

    ``distinct_id`` is the one on the user's cohort event (the earliest in the cohort).
    """
    params = _base_params(query, project_id, returns_from=returns_from, returns_to=returns_to)
    cells = _cells_sql(query, project_id, params, with_distinct_id=True)
    moment = params.add(cell.cohort_start, "DateTime64(3, 'UTC')")
    conditions = [
        f"cohort_num = {_number(query, moment)}",
        f"has(ks, {params.add(cell.k, 'UInt32')})",
        f"person_id > {params.add(after or '00000000-0000-0000-0000-000000000000', 'UUID')}",
    ]
    if query.breakdown is not None and cell.breakdown_value is not None:
        if cell.breakdown_value == "$other":
            limit_param = params.add(query.breakdown.limit, "UInt32")
            top = (
                "SELECT cohort_value FROM cells GROUP BY cohort_value"
                f" ORDER BY count() DESC, cohort_value LIMIT {limit_param}"
            )
            conditions.append(f"cohort_value NOT IN ({top})")
        else:
            conditions.append(f"cohort_value = {params.add(cell.breakdown_value, 'String')}")
    sql = (
        f"{cells} SELECT toString(person_id) AS person, cohort_distinct_id AS distinct_id FROM cells"
        f" WHERE {' AND '.join(conditions)} ORDER BY person_id LIMIT {params.add(limit, 'UInt32')}"
    )
    return Query(name="cohorts.retention_users", sql=sql, params=params.values, settings=_settings())
