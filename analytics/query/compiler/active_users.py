"""Active users: DAU, WAU, MAU and the stickiness ratio DAU/MAU for each local day of a range.

For a local day ``d`` of the project's zone, over the events that match (event name and
filters, when given):

- DAU: distinct persons with an event on ``d``;
- WAU: distinct persons with an event on any of the 7 local days ``d-6 .. d``;
- MAU: distinct persons with an event on any of the 30 local days ``d-29 .. d``;
- stickiness: DAU / MAU (null when MAU is 0).

Windows count whole local days, including days before the range's first day.

No distinct count per window: each person's window coverage is turned into +1/-1 steps.
For a window of ``W`` days (1, 7, 30), the days a person covers are the union of
``[a, a + W - 1]`` over their active days ``a``; each run of covered days gives +1 on its
first day and -1 on the day after its last. The steps of all persons are summed per day;
the count of a day is the running sum of the steps up to it, taken from the first scanned
day (the caller does the sum).

Two ways to find the runs, the same answer:

- **Bitmask** (scans of up to 256 days, the usual case): a person's active days are the
  bits of one ``UInt128``/``UInt256`` (bit ``o`` = ``o`` days after the first scanned
  day), folded with ``groupBitOr``: a fixed-size state per person, no hash set and no
  sort. Coverage is the mask or-ed with itself shifted by 1 .. W-1 (doubling shifts);
  run starts are ``covered AND NOT (covered << 1)``, the days after run ends
  ``(covered << 1) AND NOT covered``. Each step becomes one integer ``offset * 8 + kind``
  (``kind`` 0..5: start or end of DAU, WAU, MAU) so that the rows of all persons are
  counted by one small integer key; the few hundred counts are then turned into columns.
  Bits shifted past the type's width are dropped: they are days after the last one.
- **Arrays** (longer scans): per person the sorted distinct active days
  ``a1 < a2 < ...`` from ``groupUniqArray``; a run starts at ``a_i`` when ``i = 1`` or
  ``a_i > a_(i-1) + W`` and ends after ``a_i`` when ``a_i`` is the last day or
  ``a_(i+1) > a_i + W`` (-1 on day ``a_i + W``).
"""

from __future__ import annotations

from datetime import date, datetime

from analytics.query.compiler.params import Params
from analytics.query.compiler.preset_scope import query_settings, scope_where
from analytics.query.model import Filter
from analytics.warehouse.guard import Query

MONTH_DAYS = 30
WEEK_DAYS = 7
WINDOWS = (1, WEEK_DAYS, MONTH_DAYS)
# The widest mask: day offsets must also fit the UInt8 the shift takes.
MASK_TYPES = ((128, "UInt128"), (256, "UInt256"))


def _array_steps(window: int, column: int) -> str:
    """The (day, dau, wau, mau) step tuples of one window length, the step in column ``column``."""

    def tuple_(day: str, sign: int) -> str:
        values = ["toInt32(0)"] * 3
        values[column] = f"toInt32({sign})"
        return f"(toInt32({day}), {', '.join(values)})"

    starts = f"arrayFilter((d, g, i) -> i = 1 OR g > {window}, days, gap_before, arrayEnumerate(days))"
    ends = f"arrayFilter((d, g) -> g > {window}, days, gap_after)"
    return f"arrayMap(d -> {tuple_('d', 1)}, {starts}), arrayMap(d -> {tuple_(f'd + {window}', -1)}, {ends})"


def _array_sql(where: str) -> str:
    steps = ", ".join(_array_steps(window, column) for column, window in enumerate(WINDOWS))
    return (
        "SELECT step.1 AS day_number, sum(step.2) AS dau_step, sum(step.3) AS wau_step, sum(step.4) AS mau_step FROM ("
        "SELECT days, arrayDifference(days) AS gap_before,"
        " arrayPushBack(arrayPopFront(gap_before), 1000000) AS gap_after"
        " FROM (SELECT arraySort(groupUniqArray(toInt32(toDate(timestamp, {tz:String})))) AS days"
        f" FROM events WHERE {where} GROUP BY person_id))"
        f" ARRAY JOIN arrayConcat({steps}) AS step"
        " WHERE day_number <= toInt32({last_day:Date})"
        " GROUP BY day_number ORDER BY day_number"
    )


def _shifted_or(source: str, shift: int) -> str:
    return f"bitOr({source}, bitShiftLeft({source}, {shift}))"


def _mask_sql(where: str, mask_type: str) -> str:
    # Coverage by doubling shifts: m2 spans 2 days, m4 4, c7 = m4 | m4 << 3 spans 7,
    # m8 8, m16 16, c30 = m16 | m16 << 14 spans 30.
    coverage = (
        f"{_shifted_or('c1', 1)} AS m2, {_shifted_or('m2', 2)} AS m4, {_shifted_or('m4', 3)} AS c7,"
        f" {_shifted_or('m4', 4)} AS m8, {_shifted_or('m8', 8)} AS m16, {_shifted_or('m16', 14)} AS c30"
    )
    codes = []
    for kind, covered in enumerate(("c1", "c7", "c30")):
        starts = f"bitAnd({covered}, bitNot(bitShiftLeft({covered}, 1)))"
        ends = f"bitAnd(bitShiftLeft({covered}, 1), bitNot({covered}))"
        codes.append(f"arrayMap(o -> o * 8 + {2 * kind}, bitPositionsToArray({starts}))")
        codes.append(f"arrayMap(o -> o * 8 + {2 * kind + 1}, bitPositionsToArray({ends}))")
    offset = "toUInt8(toDate(timestamp, {tz:String}) - {first_day:Date})"
    columns = ", ".join(
        f"sumIf(n, kind = {2 * column}) - sumIf(n, kind = {2 * column + 1}) AS {name}_step"
        for column, name in enumerate(("dau", "wau", "mau"))
    )
    return (
        f"SELECT toInt32({{first_day:Date}}) + toInt32(intDiv(code, 8)) AS day_number, {columns} FROM ("
        "SELECT code, code % 8 AS kind, toInt64(count()) AS n FROM ("
        f"SELECT c1, {coverage} FROM ("
        f"SELECT groupBitOr(bitShiftLeft(to{mask_type}(1), {offset})) AS c1"
        f" FROM events WHERE {where} GROUP BY person_id))"
        f" ARRAY JOIN arrayConcat({', '.join(codes)}) AS code GROUP BY code)"
        " WHERE day_number <= toInt32({last_day:Date})"
        " GROUP BY day_number ORDER BY day_number"
    )


def compile_active_users(
    *,
    project_id: int,
    time_zone: str,
    scan_start: datetime,
    scan_end: datetime,
    first_day: date,
    last_day: date,
    event: str | None,
    filters: Filter | None,
) -> Query:
    """Rows ``(day_number, dau_step, wau_step, mau_step)``: the steps of each day up to ``last_day``.

    ``first_day .. last_day`` are the local days of ``[scan_start, scan_end)``. ``day_number``
    counts days since 1970-01-01; the running sum of a step column over the days in order,
    from ``first_day``, is that count on each day.
    """
    params = Params(project_id=project_id, tz=time_zone, last_day=last_day)
    where = scope_where(params, start=scan_start, end=scan_end, event=event, filters=filters)
    days = (last_day - first_day).days + 1
    mask_type = next((name for width, name in MASK_TYPES if days <= width), None)
    if mask_type is None:
        sql = _array_sql(where)
    else:
        params.values["first_day"] = first_day
        sql = _mask_sql(where, mask_type)
    return Query(name="presets.active_users", sql=sql, params=params.values, settings=query_settings())
