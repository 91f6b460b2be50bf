"""The generated SQL of a representative retention query, pinned, and the tenant guard on others.

A change here must be deliberate: read the new SQL, check that every ``events`` / ``persons``
reference is scoped by ``project_id = {project_id:UInt64}`` (not OR-ed away) and that no
user text is pasted into it, then update the snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from analytics.cohorts.compiler import compile_cell_users, compile_retention
from analytics.cohorts.model import Cell
from analytics.warehouse.guard import check_scoped
from tests.cohorts.reference import build

NOW = datetime(2026, 4, 20, tzinfo=UTC)
EVIL = "x') OR 1=1 --{project_id:UInt64}`"


def _query(body: dict[str, Any]) -> Any:
    return build(body, time_zone="Europe/Berlin", now=NOW)


def test_first_time_weekly_retention_sql():
    query = _query(
        {
            "cohort_event": {"event": "signup", "properties": [{"key": "plan", "operator": "eq", "value": "pro"}]},
            "return_event": {"event": "pageview"},
            "period": "week",
            "periods": 4,
            "from": "2026-03-02",
            "to": "2026-03-29",
        }
    )

    compiled = compile_retention(
        project_id=7, query=query, returns_from=datetime(2026, 3, 1, 23, tzinfo=UTC), returns_to=NOW
    )

    check_scoped(compiled)
    assert compiled.sql == (
        "WITH cells AS (SELECT person_id, cohort_num, cohort_value, cohort_distinct_id, "
        "arrayPushFront(arraySort(arrayFilter(x -> x <= {v4:UInt32}, arrayMap(n -> toInt64(n) - "
        "toInt64(cohort_num), arrayFilter(n -> n > cohort_num, return_nums)))), 0) AS ks FROM (SELECT "
        "person_id, toRelativeWeekNum(first_at, {tz:String}) AS cohort_num, first_value AS cohort_value, "
        "first_distinct_id AS cohort_distinct_id, return_nums FROM (SELECT person_id, minIf(timestamp, "
        "is_cohort) AS first_at, '' AS first_value, '' AS first_distinct_id, groupUniqArrayIf(num, is_return)"
        " AS return_nums FROM (SELECT person_id, timestamp, distinct_id, toRelativeWeekNum(timestamp, "
        "{tz:String}) AS num, (event = {v0:String} AND (ifNull(JSONExtract(properties, {v1:String}, "
        "'Nullable(String)') = {v2:String}, 0))) AS is_cohort, ((event = {v3:String}) AND timestamp >= "
        "{returns_from:DateTime64(3, 'UTC')} AND timestamp < {returns_to:DateTime64(3, 'UTC')}) AS is_return,"
        " '' AS value FROM events WHERE project_id = {project_id:UInt64} AND (is_cohort OR is_return)) GROUP "
        "BY person_id HAVING countIf(is_cohort) > 0 AND first_at >= {start:DateTime64(3, 'UTC')} AND first_at"
        " < {end:DateTime64(3, 'UTC')}))) SELECT toUnixTimestamp(toDateTime(toDate('1970-01-01') + "
        "(cohort_num * 7 - 3), {tz:String})) AS cohort_epoch, is_top, breakdown_value, k, users FROM (SELECT "
        "cohort_num, is_top, breakdown_value, k, count() AS users FROM (SELECT cohort_num, 1 AS is_top, '' AS"
        " breakdown_value, arrayJoin(ks) AS k FROM cells) GROUP BY cohort_num, is_top, breakdown_value, k) "
        "ORDER BY cohort_num, is_top DESC, breakdown_value, k"
    )
    assert {key: compiled.params[key] for key in ("v0", "v1", "v2", "v3", "v4")} == {
        "v0": "signup",
        "v1": "plan",
        "v2": "pro",
        "v3": "pageview",
        "v4": 4,
    }


@pytest.mark.parametrize("mode", ["first_time", "recurring"])
@pytest.mark.parametrize("breakdown", [None, {"key": EVIL}, {"key": EVIL, "type": "person"}])
def test_every_variant_is_scoped_and_carries_user_text_as_parameters(mode, breakdown):
    body: dict[str, Any] = {
        "cohort_event": {"event": EVIL, "properties": [{"key": EVIL, "operator": "contains", "value": EVIL}]},
        "return_event": {"event": EVIL},
        "period": "day",
        "periods": 3,
        "from": "2026-03-02",
        "to": "2026-03-09",
        "mode": mode,
        "returning": "on_or_after",
        "breakdown": breakdown,
    }
    query = _query(body)
    window = {"returns_from": datetime(2026, 3, 1, 23, tzinfo=UTC), "returns_to": NOW}
    cell = Cell(cohort_start=datetime(2026, 3, 3, tzinfo=UTC), k=1, breakdown_value=EVIL if breakdown else None)

    for compiled in (
        compile_retention(project_id=7, query=query, **window),
        compile_cell_users(project_id=7, query=query, cell=cell, after=None, limit=10, **window),
    ):
        check_scoped(compiled)
        assert EVIL not in compiled.sql
        assert "x')" not in compiled.sql
        assert EVIL in compiled.params.values()
