"""The generated SQL of two representative trends queries, pinned.

A change here must be deliberate: read the new SQL, check that every ``events`` reference
is scoped by ``project_id = {project_id:UInt64}`` (not OR-ed away) and that no user text is
pasted into it, then update the snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.query.compiler.trends import compile_series
from analytics.query.model import DateRange
from analytics.warehouse.guard import check_scoped
from tests.query.helpers import build

RANGE = DateRange(datetime(2026, 3, 9, 23, tzinfo=UTC), datetime(2026, 3, 11, 23, tzinfo=UTC))
SCOPE = (
    "project_id = {project_id:UInt64} AND timestamp >= {start:DateTime64(3, 'UTC')}"
    " AND timestamp < {end:DateTime64(3, 'UTC')}"
)


def compiled(body: dict) -> object:
    query = build({"from": "2026-03-10", "to": "2026-03-11", **body}, time_zone="Europe/Berlin")
    result = compile_series(project_id=7, query=query, series=query.series[0], date_range=RANGE)
    check_scoped(result.query)
    return result.query


def test_unique_users_with_filters_by_hour():
    query = compiled(
        {
            "series": [
                {
                    "event": "signup",
                    "math": "unique_users",
                    "filters": [{"key": "plan", "operator": "in", "value": ["pro", 42]}],
                }
            ],
            "interval": "hour",
            "filters": {
                "op": "or",
                "conditions": [
                    {"key": "$browser", "operator": "eq", "value": "Chrome"},
                    {"key": "x'); DROP TABLE events; --", "operator": "is_set"},
                ],
            },
        }
    )

    assert query.sql == (
        "SELECT bucket, uniqExact(person_id) AS value FROM ("
        "SELECT toUnixTimestamp(toStartOfHour(timestamp, {tz:String})) AS bucket, person_id FROM events WHERE "
        + SCOPE
        + " AND event = {v0:String}"
        " AND (ifNull(JSONExtract(properties, {v1:String}, 'Nullable(String)') IN {v2:Array(String)}"
        " OR JSONExtract(properties, {v1:String}, 'Nullable(Float64)') IN {v3:Array(Float64)}, 0))"
        " AND (ifNull(nullIf(browser, '') = {v4:String}, 0)"
        " OR ifNull((JSONHas(properties, {v5:String}) AND JSONType(properties, {v5:String}) != 'Null'), 0))"
        ") GROUP BY ROLLUP(bucket) ORDER BY bucket"
    )
    assert query.params == {
        "project_id": 7,
        "start": RANGE.start,
        "end": RANGE.end,
        "tz": "Europe/Berlin",
        "v0": "signup",
        "v1": "plan",
        "v2": ["pro"],
        "v3": [42.0],
        "v4": "Chrome",
        "v5": "x'); DROP TABLE events; --",
    }
    assert query.settings["group_by_use_nulls"] == 1


def test_sum_of_a_property_broken_down_by_week():
    query = compiled(
        {
            "series": [
                {
                    "event": "purchase",
                    "math": "sum",
                    "property": "amount",
                    "filters": [{"key": "path", "operator": "not_regex", "value": "^/admin"}],
                }
            ],
            "interval": "week",
            "breakdown": {"key": "$country", "limit": 5},
        }
    )

    where = (
        SCOPE + " AND event = {v0:String}"
        " AND (NOT ifNull(match(JSONExtract(properties, {v1:String}, 'Nullable(String)'), {v2:String}), 0))"
        " AND isNotNull(JSONExtract(properties, {v3:String}, 'Nullable(Float64)'))"
    )
    assert query.sql == (
        "SELECT is_top, breakdown_value, bucket, sum(x) AS value, count() AS volume FROM ("
        "SELECT toUnixTimestamp(toDateTime(toMonday(timestamp, {tz:String}), {tz:String})) AS bucket,"
        " ifNull(nullIf(country, ''), '') AS breakdown_raw,"
        " breakdown_raw IN (SELECT ifNull(nullIf(country, ''), '') AS top FROM events WHERE " + where + ""
        " GROUP BY top ORDER BY count() DESC, top LIMIT {v4:UInt32}) AS is_top,"
        " if(is_top, breakdown_raw, '') AS breakdown_value, person_id,"
        " assumeNotNull(JSONExtract(properties, {v3:String}, 'Nullable(Float64)')) AS x"
        " FROM events WHERE " + where + ""
        ") GROUP BY GROUPING SETS ((is_top, breakdown_value, bucket), (is_top, breakdown_value))"
        " ORDER BY is_top DESC, breakdown_value, bucket"
    )
    assert (query.params["v1"], query.params["v2"], query.params["v3"], query.params["v4"]) == (
        "path",
        "^/admin",
        "amount",
        5,
    )
