"""Active users: DAU, WAU, MAU and the stickiness ratio DAU/MAU for each local day of a range.

For a local day ``d`` of the project's zone, over the events that match (event name and
filters, when given):

- DAU: distinct persons with an event on ``d``;
- WAU: distinct persons with an event on any of the 7 local days ``d-6 .. d``;
- MAU: distinct persons with an event on any of the 30 local days ``d-29 .. d``;
- stickiness: DAU / MAU (null when MAU is 0).

Windows count whole local days, including days before the range's first day.

No distinct count per window: each person's window coverage is turned into +1/-1 steps.
Per person, the sorted distinct active days ``a1 < a2 < ...`` (as day numbers) and, for a
window of ``W`` days (1, 7, 30), the days covered are the union of ``[a, a + W - 1]``: a
run of such intervals starts at ``a_i`` when ``i = 1`` or ``a_i > a_(i-1) + W`` (+1 that
day) and ends after ``a_i`` when ``a_i`` is the last day or ``a_(i+1) > a_i + W`` (-1 on day
``a_i + W``). The steps of all persons are summed per day; the count of a day is the running
sum of the steps up to it, taken from the first scanned day (the caller does the sum).
"""

from __future__ import annotations

from datetime import date, datetime

from analytics.query.compiler.params import Params
from analytics.query.compiler.preset_scope import query_settings, scope_where
from analytics.query.model import Filter
from analytics.warehouse.guard import Query

MONTH_DAYS = 30
WEEK_DAYS = 7


def _steps(window: int, column: int) -> str:
    """The (day, dau, wau, mau) step tuples of one window length, the step in column ``column``."""

    def tuple_(day: str, sign: int) -> str:
        values = ["toInt32(0)"] * 3
        values[column] = f"toInt32({sign})"
        return f"(toInt32({day}), {', '.join(values)})"

    starts = f"arrayFilter((d, g, i) -> i = 1 OR g > {window}, days, gap_before, arrayEnumerate(days))"
    ends = f"arrayFilter((d, g) -> g > {window}, days, gap_after)"
    return f"arrayMap(d -> {tuple_('d', 1)}, {starts}), arrayMap(d -> {tuple_(f'd + {window}', -1)}, {ends})"


def compile_active_users(
    *,
    project_id: int,
    time_zone: str,
    scan_start: datetime,
    scan_end: datetime,
    last_day: date,
    event: str | None,
    filters: Filter | None,
) -> Query:
    """Rows ``(day_number, dau_step, wau_step, mau_step)``: the steps of each day up to ``last_day``.

    ``day_number`` counts days since 1970-01-01; the running sum of a step column over the
    days in order is that count on each day.
    """
    params = Params(project_id=project_id, tz=time_zone, last_day=last_day)
    where = scope_where(params, start=scan_start, end=scan_end, event=event, filters=filters)
    steps = ", ".join(_steps(window, column) for column, window in enumerate((1, WEEK_DAYS, MONTH_DAYS)))
    sql = (
        "SELECT step.1 AS day_number, sum(step.2) AS dau_step, sum(step.3) AS wau_step, sum(step.4) AS mau_step FROM ("
        "SELECT days, arrayDifference(days) AS gap_before,"
        " arrayPushBack(arrayPopFront(gap_before), 1000000) AS gap_after"
        " FROM (SELECT arraySort(groupUniqArray(toInt32(toDate(timestamp, {tz:String})))) AS days"
        f" FROM events WHERE {where} GROUP BY person_id))"
        f" ARRAY JOIN arrayConcat({steps}) AS step"
        " WHERE day_number <= toInt32({last_day:Date})"
        " GROUP BY day_number ORDER BY day_number"
    )
    return Query(name="presets.active_users", sql=sql, params=params.values, settings=query_settings())
