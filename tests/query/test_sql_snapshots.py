"""The generated SQL of two representative trends queries, pinned.

A change here must be deliberate: read the new SQL, check that every ``events`` reference
is scoped by ``project_id = {project_id:UInt64}`` (not OR-ed away) and that no user text is
pasted into it, then update the snapshot.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from analytics.query import membership
from analytics.query.compiler.params import Params
from analytics.query.compiler.trends import compile_series
from analytics.query.membership import register_segment_resolver
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


PERSON_AND_SEGMENT_SQL = (
    "SELECT bucket, quantileExactInclusive(0.5)(n) AS value FROM (SELECT bucket, person_id, count()"
    " AS n FROM (SELECT toUnixTimestamp(toStartOfDay(timestamp, {tz:String})) AS bucket, person_id"
    " FROM events WHERE project_id = {project_id:UInt64} AND timestamp >= {start:DateTime64(3,"
    " 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')} AND event = {v0:String} AND (person_id NOT"
    " IN (SELECT person_id FROM (SELECT person_id, properties FROM persons FINAL WHERE project_id ="
    " {project_id:UInt64} AND is_deleted = 0) WHERE ifNull(JSONExtract(properties, {v1:String},"
    " 'Nullable(String)') IN {v2:Array(String)} OR JSONExtract(properties, {v1:String},"
    " 'Nullable(Float64)') IN {v3:Array(Float64)}, 0)) AND person_id NOT IN (SELECT person_id FROM"
    " segment_members WHERE project_id = {project_id:UInt64} AND segment_id = {v4:UInt64})))"
    " GROUP BY GROUPING SETS ((bucket, person_id),"
    " (person_id))) GROUP BY bucket ORDER BY bucket"
)

PERSON_BREAKDOWN_SQL = (
    "SELECT is_top, breakdown_value, bucket, uniqExact(session) AS value, count() AS volume FROM"
    " (SELECT toUnixTimestamp(toStartOfDay(timestamp, {tz:String})) AS bucket,"
    " ifNull(JSONExtract(person_properties, {v3:String}, 'Nullable(String)'), '') AS"
    " breakdown_raw, breakdown_raw IN (SELECT ifNull(JSONExtract(person_properties, {v3:String},"
    " 'Nullable(String)'), '') AS top FROM events LEFT JOIN (SELECT person_id, properties AS"
    " person_properties FROM (SELECT person_id, properties FROM persons FINAL WHERE project_id ="
    " {project_id:UInt64} AND is_deleted = 0)) AS breakdown_persons USING (person_id) WHERE"
    " project_id = {project_id:UInt64} AND timestamp >= {start:DateTime64(3, 'UTC')} AND"
    " timestamp < {end:DateTime64(3, 'UTC')} GROUP BY top ORDER BY count() DESC, top LIMIT"
    " {v4:UInt32}) AS is_top, if(is_top, breakdown_raw, '') AS breakdown_value, person_id,"
    " session_key AS session FROM (SELECT event_id, person_id, session_id, timestamp, project_id,"
    " event, distinct_id, concat('c:', session_id) AS session_key FROM events WHERE project_id ="
    " {project_id:UInt64} AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp <"
    " {end:DateTime64(3, 'UTC')} AND session_id != '' UNION ALL SELECT event_id, person_id,"
    " session_id, timestamp, project_id, event, distinct_id, concat('p:', toString(person_id),"
    " ':', toString(start_ms)) AS session_key FROM (SELECT event_id, person_id, session_id,"
    " timestamp, project_id, event, distinct_id, maxIf(ms, is_start) OVER w AS start_ms FROM"
    " (SELECT event_id, person_id, session_id, timestamp, project_id, event, distinct_id,"
    " toUnixTimestamp64Milli(timestamp) AS ms, row_number() OVER w = 1 OR ms - lagInFrame(ms, 1)"
    " OVER w > {v0:Int64} OR ({v1:UInt8} = 1 AND toDate(timestamp, {v2:String}) !="
    " lagInFrame(toDate(timestamp, {v2:String}), 1) OVER w) AS is_start FROM events WHERE"
    " project_id = {project_id:UInt64} AND timestamp >= {start:DateTime64(3, 'UTC')} AND"
    " timestamp < {end:DateTime64(3, 'UTC')} AND session_id = '' WINDOW w AS (PARTITION BY"
    " person_id ORDER BY timestamp, event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))"
    " WINDOW w AS (PARTITION BY person_id ORDER BY timestamp, event_id ROWS BETWEEN UNBOUNDED"
    " PRECEDING AND CURRENT ROW))) AS events LEFT JOIN (SELECT person_id, properties AS"
    " person_properties FROM (SELECT person_id, properties FROM persons FINAL WHERE project_id ="
    " {project_id:UInt64} AND is_deleted = 0)) AS breakdown_persons USING (person_id) WHERE"
    " project_id = {project_id:UInt64} AND timestamp >= {start:DateTime64(3, 'UTC')} AND"
    " timestamp < {end:DateTime64(3, 'UTC')}) GROUP BY GROUPING SETS ((is_top, breakdown_value,"
    " bucket), (is_top, breakdown_value)) ORDER BY is_top DESC, breakdown_value, bucket"
)


UTM_BREAKDOWN_SQL = (
    "SELECT is_top, breakdown_value, bucket, count() AS value, count() AS volume FROM (SELECT"
    " toUnixTimestamp(toStartOfDay(timestamp, {tz:String})) AS bucket,"
    " ifNull(coalesce(nullIf(JSONExtract(properties, {v1:String}, 'Nullable(String)'), ''),"
    " nullIf(decodeURLFormComponent(extractURLParameter(url, {v1:String})), '')), '') AS"
    " breakdown_raw, breakdown_raw IN (SELECT ifNull(coalesce(nullIf(JSONExtract(properties,"
    " {v1:String}, 'Nullable(String)'), ''), nullIf(decodeURLFormComponent(extractURLParameter(url,"
    " {v1:String})), '')), '') AS top FROM events WHERE project_id = {project_id:UInt64} AND"
    " timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')} AND"
    " (ifNull(nullIf(path(url), '') = {v0:String}, 0)) GROUP BY top ORDER BY count() DESC, top LIMIT"
    " {v2:UInt32}) AS is_top, if(is_top, breakdown_raw, '') AS breakdown_value, person_id FROM"
    " events WHERE project_id = {project_id:UInt64} AND timestamp >= {start:DateTime64(3, 'UTC')}"
    " AND timestamp < {end:DateTime64(3, 'UTC')} AND (ifNull(nullIf(path(url), '') = {v0:String},"
    " 0))) GROUP BY GROUPING SETS ((is_top, breakdown_value, bucket), (is_top, breakdown_value))"
    " ORDER BY is_top DESC, breakdown_value, bucket"
)


@pytest.fixture
def fake_segments():
    """A stand-in resolver (the segments app registers the real one)."""

    def resolve(*, project_id: int, segment_id: int, params: Params) -> tuple[str, str]:
        return (
            "person_id",
            f"(SELECT person_id FROM segment_members WHERE project_id = {{project_id:UInt64}} AND segment_id = {params.add(segment_id, 'UInt64')})",
        )

    previous = membership._resolver
    register_segment_resolver(resolve)
    yield
    membership._resolver = previous


def test_per_user_median_with_person_and_segment_conditions(fake_segments):
    conditions = [
        {"type": "person", "key": "plan", "operator": "not_in", "value": ["pro", 3]},
        {"type": "segment", "key": "id", "operator": "neq", "value": 12},
    ]
    query = compiled(
        {"series": [{"event": "signup", "math": "median_per_user", "filters": conditions}], "interval": "day"}
    )

    assert query.sql == PERSON_AND_SEGMENT_SQL
    assert [query.params[name] for name in ("v0", "v1", "v2", "v3", "v4")] == ["signup", "plan", ["pro"], [3.0], 12]


def test_unique_sessions_by_a_person_property():
    query = compiled(
        {
            "series": [{"event": None, "math": "unique_sessions"}],
            "interval": "day",
            "breakdown": {"key": "tier", "type": "person", "limit": 3},
        }
    )

    assert query.sql == PERSON_BREAKDOWN_SQL
    assert [query.params[name] for name in ("v0", "v1", "v2", "v3", "v4")] == [1_800_000, 1, "Europe/Berlin", "tier", 3]


def test_utm_breakdown_with_a_pathname_filter():
    query = compiled(
        {
            "series": [{"event": None}],
            "interval": "day",
            "breakdown": {"key": "utm_source"},
            "filters": [{"key": "$pathname", "operator": "eq", "value": "/x"}],
        }
    )

    assert query.sql == UTM_BREAKDOWN_SQL
    assert (query.params["v0"], query.params["v1"], query.params["v2"]) == ("/x", "utm_source", 10)
