"""The aggregation's SQL: tenant-scoped, parameterised, identifiers checked."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.aggregation.granularity import Granularity
from analytics.aggregation.queries.rollups import MAX_SEARCH_NEEDLES, late_buckets_query, rollup_query
from analytics.aggregation.queries.users import user_events_query, user_totals_query
from analytics.warehouse.errors import InvalidIdentifier
from analytics.warehouse.guard import check_scoped

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("granularity", list(Granularity))
def test_every_query_is_scoped_by_project_and_carries_values_as_parameters(granularity: Granularity) -> None:
    queries = [
        rollup_query(
            project_id=7,
            granularity=granularity,
            tz_name="Europe/Berlin",
            measures=["revenue", "a.b"],
            start=START,
            end=START + timedelta(days=1),
            dirty_buckets=[START - timedelta(days=1)],
            dirty_low=START - timedelta(days=1),
            dirty_high=START,
            event="x' OR 1=1 --",
        ),
        late_buckets_query(
            project_id=7,
            granularity=granularity,
            tz_name="UTC",
            inserted_after=START,
            inserted_until=START,
            before=START,
        ),
        user_events_query(project_id=7, distinct_id="'; DROP TABLE events", limit=10, before=(START, "x")),
        user_totals_query(project_id=7, distinct_id="u", tz_name="UTC", period="day", measures=["bytes_up"]),
    ]
    for query in queries:
        check_scoped(query)
        assert "DROP TABLE" not in query.sql
        assert "OR 1=1" not in query.sql
        assert "Europe/Berlin" not in query.sql


@pytest.mark.parametrize("measure", ["x`) FROM system.users --", "a b", "", "1abc"])
def test_a_measure_name_that_is_not_an_identifier_is_refused(measure: str) -> None:
    with pytest.raises(InvalidIdentifier):
        rollup_query(
            project_id=1,
            granularity=Granularity.HOUR,
            tz_name="UTC",
            measures=[measure],
            start=START,
            end=START + timedelta(hours=1),
        )


SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.mark.parametrize("name", ["rollup_1d_dirty_event", "late_5m"])
def test_generated_sql_matches_its_snapshot(name: str) -> None:
    """Pins the SQL the aggregation sends; rewrite with UPDATE_SNAPSHOTS=1 after a deliberate change."""
    if name == "rollup_1d_dirty_event":
        query = rollup_query(
            project_id=7,
            granularity=Granularity.DAY,
            tz_name="Europe/Berlin",
            measures=["revenue", "duration_sec"],
            start=START,
            end=START + timedelta(days=2),
            dirty_buckets=[START - timedelta(days=3)],
            dirty_low=START - timedelta(days=3),
            dirty_high=START - timedelta(days=2),
            event="CALL_OUT",
        )
    else:
        query = late_buckets_query(
            project_id=7,
            granularity=Granularity.FIVE_MINUTES,
            tz_name="UTC",
            inserted_after=START,
            inserted_until=START,
            before=START,
        )
    text = f"{query.sql.strip()}\n-- params: {json.dumps(query.params, sort_keys=True)}\n-- settings: {dict(query.settings)}\n"
    path = SNAPSHOTS / f"{name}.sql"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_the_json_guard_is_left_out_when_multisearch_cannot_take_every_key() -> None:
    """multiSearchAny takes at most 255 needles (the keys plus a backslash)."""

    def query_for(count: int) -> str:
        measures = [f"m{index}" for index in range(count)]
        return rollup_query(
            project_id=1,
            granularity=Granularity.HOUR,
            tz_name="UTC",
            measures=measures,
            start=START,
            end=START + timedelta(hours=1),
        ).sql

    assert "multiSearchAny" in query_for(MAX_SEARCH_NEEDLES - 1)
    assert "multiSearchAny" not in query_for(MAX_SEARCH_NEEDLES)
    assert "JSONExtract(properties, {measures_type:String}) AS measure_values" in query_for(MAX_SEARCH_NEEDLES)
