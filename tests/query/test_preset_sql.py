"""The generated SQL of the preset compilers: scoped by project, user text only as parameters.

Two snapshots pin the SQL (a change must be deliberate: re-read it, then update); every
compiler is checked by the store's tenant guard with hostile names and values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from analytics.query.compiler.active_users import compile_active_users
from analytics.query.compiler.lifecycle import compile_lifecycle
from analytics.query.compiler.revenue import compile_revenue, compile_revenue_breakdown
from analytics.query.compiler.stickiness import compile_stickiness
from analytics.query.compiler.top_lists import TOP_KINDS, compile_top
from analytics.query.model import Condition
from analytics.warehouse.guard import Query, check_scoped

EVIL = "x'); DROP TABLE events; --{project_id:UInt64}"
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC)
FILTER = Condition(key=EVIL, operator="eq", value=EVIL)
SCOPE = (
    "project_id = {project_id:UInt64} AND timestamp < {end:DateTime64(3, 'UTC')}"
    " AND timestamp >= {start:DateTime64(3, 'UTC')}"
)


def _active_users(first_day: date, last_day: date, **overrides: Any) -> Query:
    arguments = {"project_id": 7, "event": None, "filters": None, **overrides}
    return compile_active_users(
        time_zone="Europe/Berlin", scan_start=START, scan_end=END, first_day=first_day, last_day=last_day, **arguments
    )


def every_compiled() -> list[Query]:
    common = {"project_id": 7, "event": EVIL, "filters": FILTER}
    return [
        _active_users(date(2026, 3, 1), date(2026, 3, 7), **common),  # the bitmask path
        _active_users(date(2025, 3, 1), date(2026, 3, 7), **common),  # the array path
        compile_lifecycle(
            time_zone="Europe/Berlin",
            interval="week",
            scan_start=START,
            scan_end=END,
            first_bucket=date(2026, 3, 2),
            last_bucket=date(2026, 3, 2),
            **common,
        ),
        compile_stickiness(time_zone="Europe/Berlin", start=START, end=END, interval="day", **common),
        compile_revenue(time_zone="Europe/Berlin", start=START, end=END, interval="hour", prop=EVIL, **common),
        compile_revenue_breakdown(start=START, end=END, prop=EVIL, breakdown=EVIL, limit=3, **common),
        *(compile_top(kind=kind, start=START, end=END, limit=5, **common) for kind in TOP_KINDS),
    ]


@pytest.mark.parametrize("query", every_compiled(), ids=lambda query: query.name)
def test_every_preset_query_is_scoped_and_carries_user_text_only_as_parameters(query):
    check_scoped(query)

    assert EVIL not in query.sql
    assert "DROP" not in query.sql
    assert EVIL in query.params.values()
    assert query.params["project_id"] == 7


def test_top_referrers_sql():
    query = compile_top(
        kind="top_referrers", project_id=7, start=START, end=END, event="$pageview", filters=None, limit=5
    )

    assert query.sql == (
        "SELECT if(domain(referrer) = '', '$direct', lower(domain(referrer))) AS value, count() AS event_count,"
        " uniqExact(person_id) AS person_count FROM events WHERE "
        + SCOPE
        + " AND event = {v0:String} GROUP BY GROUPING SETS ((value), ())"
        " ORDER BY isNull(value) DESC, event_count DESC, value LIMIT {v1:UInt32}"
    )
    assert query.params["v1"] == 6  # one more than the limit: the total row comes first


def test_lifecycle_sql():
    query = compile_lifecycle(
        project_id=7,
        time_zone="Europe/Berlin",
        interval="day",
        scan_start=START,
        scan_end=END,
        first_bucket=date(2026, 3, 2),
        last_bucket=date(2026, 3, 7),
        event=None,
        filters=None,
    )

    assert query.sql == (
        "SELECT pair.1 AS bucket, pair.2 AS status, count() AS person_count FROM ("
        "SELECT person_id, min(toDate(timestamp, {tz:String})) AS first_bucket,"
        " groupUniqArrayIf(toDate(timestamp, {tz:String}), timestamp >= {scan_start:DateTime64(3, 'UTC')}) AS active"
        " FROM events WHERE project_id = {project_id:UInt64} AND timestamp < {end:DateTime64(3, 'UTC')}"
        " GROUP BY person_id HAVING length(active) > 0)"
        " ARRAY JOIN arrayConcat(arrayMap(b -> (b, multiIf(b = first_bucket, 'new',"
        " has(active, subtractDays(b, 1)), 'returning', 'resurrecting')),"
        " arrayFilter(b -> b >= {first_bucket:Date}, active)),"
        " arrayMap(b -> (addDays(b, 1), 'dormant'),"
        " arrayFilter(b -> addDays(b, 1) <= {last_bucket:Date} AND NOT has(active, addDays(b, 1)), active))) AS pair"
        " GROUP BY bucket, status ORDER BY bucket, status"
    )


@pytest.mark.parametrize(
    ("days", "marker"),
    [(1, "toUInt128(1)"), (128, "toUInt128(1)"), (129, "toUInt256(1)"), (256, "toUInt256(1)"), (257, "groupUniqArray")],
)
def test_active_users_mask_width_follows_the_scanned_days(days, marker):
    last_day = date(2026, 3, 7)
    query = _active_users(date.fromordinal(last_day.toordinal() - days + 1), last_day)

    assert marker in query.sql
    assert ("first_day" in query.params) == (marker != "groupUniqArray")


def test_active_users_mask_sql():
    query = _active_users(date(2026, 2, 6), date(2026, 3, 7))

    starts_ends = ", ".join(
        f"arrayMap(o -> o * 8 + {2 * kind}, bitPositionsToArray(bitAnd({c}, bitNot(bitShiftLeft({c}, 1))))),"
        f" arrayMap(o -> o * 8 + {2 * kind + 1}, bitPositionsToArray(bitAnd(bitShiftLeft({c}, 1), bitNot({c}))))"
        for kind, c in enumerate(("c1", "c7", "c30"))
    )
    assert query.sql == (
        "SELECT toInt32({first_day:Date}) + toInt32(intDiv(code, 8)) AS day_number,"
        " sumIf(n, kind = 0) - sumIf(n, kind = 1) AS dau_step, sumIf(n, kind = 2) - sumIf(n, kind = 3) AS wau_step,"
        " sumIf(n, kind = 4) - sumIf(n, kind = 5) AS mau_step FROM ("
        "SELECT code, code % 8 AS kind, toInt64(count()) AS n FROM ("
        "SELECT c1, bitOr(c1, bitShiftLeft(c1, 1)) AS m2, bitOr(m2, bitShiftLeft(m2, 2)) AS m4,"
        " bitOr(m4, bitShiftLeft(m4, 3)) AS c7, bitOr(m4, bitShiftLeft(m4, 4)) AS m8,"
        " bitOr(m8, bitShiftLeft(m8, 8)) AS m16, bitOr(m16, bitShiftLeft(m16, 14)) AS c30 FROM ("
        "SELECT groupBitOr(bitShiftLeft(toUInt128(1), toUInt8(toDate(timestamp, {tz:String}) - {first_day:Date}))) AS c1"
        " FROM events WHERE " + SCOPE + " GROUP BY person_id))"
        " ARRAY JOIN arrayConcat(" + starts_ends + ") AS code GROUP BY code)"
        " WHERE day_number <= toInt32({last_day:Date}) GROUP BY day_number ORDER BY day_number"
    )
    assert query.params["first_day"] == date(2026, 2, 6)
