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

The answer rows are ``(cohort_epoch, is_top, breakdown_value, k, users)``: the cohort's
start as Unix seconds, and how many (user, cohort) pairs count in cell ``k`` (``k = 0``:
the size). The runner shapes them and marks periods that have not started as null.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings

from analytics.cohorts.model import Cell, RetentionQuery
from analytics.query.compiler.filters import filter_sql, property_views
from analytics.query.compiler.params import Params
from analytics.query.membership import segment_members_sql
from analytics.warehouse.guard import Query

_TZ = "{tz:String}"
PERIOD_NUMBER = {
    "day": "toRelativeDayNum({moment}, " + _TZ + ")",
    "week": "toRelativeWeekNum({moment}, " + _TZ + ")",
    "month": "toRelativeMonthNum({moment}, " + _TZ + ")",
}
PERIOD_START = {
    "day": "toUnixTimestamp(toStartOfDay({moment}, " + _TZ + "))",
    "week": "toUnixTimestamp(toDateTime(toMonday({moment}, " + _TZ + "), " + _TZ + "))",
    "month": "toUnixTimestamp(toDateTime(toStartOfMonth({moment}, " + _TZ + "), " + _TZ + "))",
}
_PROJECT = "project_id = {project_id:UInt64}"
_IN_RANGE = "timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"


def _number(query: RetentionQuery, moment: str) -> str:
    return PERIOD_NUMBER[query.period].replace("{moment}", moment)


def _start(query: RetentionQuery, moment: str) -> str:
    return PERIOD_START[query.period].replace("{moment}", moment)


def _event_where(event: str, filters: object, params: Params) -> list[str]:
    parts = [_PROJECT, f"event = {params.add(event, 'String')}"]
    if filters is not None:
        parts.append(filter_sql(filters, params))  # type: ignore[arg-type]
    return parts


def _segment_where(query: RetentionQuery, project_id: int, params: Params) -> list[str]:
    if query.segment is None:
        return []
    members = segment_members_sql(project_id=project_id, segment_id=query.segment.segment_id, params=params)
    return [f"person_id {'NOT IN' if query.segment.negated else 'IN'} ({members})"]


def _event_value(query: RetentionQuery, params: Params) -> str:
    if query.breakdown is None or query.breakdown.type != "event":
        return "''"
    return f"ifNull({property_views(query.breakdown.key, params).text}, '')"


def _cohort_sql(query: RetentionQuery, project_id: int, params: Params) -> str:
    """(person_id, cohort_num, cohort_epoch, cohort_value, cohort_distinct_id): one row per (user, cohort)."""
    where = _event_where(query.cohort_event.event, query.cohort_event.filters, params)
    where += _segment_where(query, project_id, params)
    value = _event_value(query, params)
    if query.mode == "first_time":
        first = (
            "SELECT person_id, min(timestamp) AS first_at, argMin(" + value + ", timestamp) AS first_value,"
            " argMin(distinct_id, timestamp) AS first_distinct_id"
            f" FROM events WHERE {' AND '.join(where)} GROUP BY person_id"
            " HAVING first_at >= {start:DateTime64(3, 'UTC')} AND first_at < {end:DateTime64(3, 'UTC')}"
        )
        cohorts = (
            f"SELECT person_id, {_number(query, 'first_at')} AS cohort_num,"
            f" {_start(query, 'first_at')} AS cohort_epoch,"
            f" first_value AS cohort_value, first_distinct_id AS cohort_distinct_id FROM ({first})"
        )
    else:
        cohorts = (
            f"SELECT person_id, {_number(query, 'timestamp')} AS cohort_num,"
            f" min({_start(query, 'timestamp')}) AS cohort_epoch,"
            f" argMin({value}, timestamp) AS cohort_value, argMin(distinct_id, timestamp) AS cohort_distinct_id"
            f" FROM events WHERE {' AND '.join([*where, _IN_RANGE])} GROUP BY person_id, cohort_num"
        )
    if query.breakdown is None or query.breakdown.type != "person":
        return cohorts
    key = params.add(query.breakdown.key, "String")
    persons = (
        f"SELECT person_id, ifNull(JSONExtract(properties, {key}, 'Nullable(String)'), '') AS person_value"
        f" FROM persons FINAL WHERE {_PROJECT} AND is_deleted = 0"
    )
    return (
        "SELECT c.person_id AS person_id, c.cohort_num AS cohort_num, c.cohort_epoch AS cohort_epoch,"
        " ifNull(p.person_value, '') AS cohort_value, c.cohort_distinct_id AS cohort_distinct_id"
        f" FROM ({cohorts}) AS c LEFT JOIN ({persons}) AS p ON c.person_id = p.person_id"
    )


def _returns_sql(query: RetentionQuery, params: Params) -> str:
    """(person_id, return_num): the distinct periods in which each user had a return event."""
    where = _event_where(query.return_event.event, query.return_event.filters, params)
    where.append("timestamp >= {returns_from:DateTime64(3, 'UTC')} AND timestamp < {returns_to:DateTime64(3, 'UTC')}")
    return f"SELECT DISTINCT person_id, {_number(query, 'timestamp')} AS return_num FROM events WHERE {' AND '.join(where)}"


def _cells_sql(query: RetentionQuery, project_id: int, params: Params) -> str:
    """The CTEs and ``cells``: per (user, cohort) their breakdown value and the cells ``ks`` they count in."""
    periods = params.add(query.periods, "UInt32")
    if query.returning == "on":
        ks = f"arrayPushFront(arraySort(arrayFilter(x -> x <= {periods}, offsets)), 0)"
    else:
        ks = f"range(0, toUInt32(least(arrayMax(arrayPushFront(offsets, 0)), {periods})) + 1)"
    return (
        f"WITH cohort AS ({_cohort_sql(query, project_id, params)}),"
        f" returns AS ({_returns_sql(query, params)}),"
        " cells AS ("
        "SELECT person_id, cohort_num, cohort_epoch, cohort_value, cohort_distinct_id,"
        f" {ks} AS ks FROM ("
        "SELECT c.person_id AS person_id, c.cohort_num AS cohort_num, any(c.cohort_epoch) AS cohort_epoch,"
        " any(c.cohort_value) AS cohort_value, any(c.cohort_distinct_id) AS cohort_distinct_id,"
        " groupUniqArrayIf(toInt64(r.return_num) - toInt64(c.cohort_num), r.return_num > c.cohort_num) AS offsets"
        " FROM cohort AS c LEFT JOIN returns AS r ON c.person_id = r.person_id"
        " GROUP BY c.person_id, c.cohort_num))"
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
        f"{cells} SELECT cohort_epoch, is_top, breakdown_value, k, count() AS users FROM ("
        f"SELECT cohort_epoch, {grouping}, arrayJoin(ks) AS k FROM cells)"
        " GROUP BY cohort_epoch, is_top, breakdown_value, k ORDER BY cohort_epoch, is_top DESC, breakdown_value, k"
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
    cells = _cells_sql(query, project_id, params)
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
