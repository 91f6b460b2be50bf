"""Late events: inserted after their bucket was final, they make exactly that bucket dirty."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from analytics.aggregation.models import Rollup, Watermark
from analytics.aggregation.services import aggregation_run
from analytics.warehouse.data_version import data_version
from tests.aggregation.helpers import (
    assert_rollups_equal,
    expected_rollups,
    insert,
    make_event,
    random_events,
    stored_rollups,
)
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db

START = datetime(2026, 4, 2, 9, 0, tzinfo=UTC)
MEASURES = ["revenue", "duration_sec", "bytes_up", "bytes_down"]


def late_counter(granularity: str) -> float:
    return REGISTRY.get_sample_value("late_events_total", {"granularity": granularity}) or 0.0


def test_late_events_recompute_exactly_their_buckets(store: object) -> None:
    _, project = member_with_project()
    rows = random_events(project.id, START, timedelta(hours=1), 600, seed=11)
    insert(rows)
    now = START + timedelta(hours=2)
    aggregation_run(project_id=project.id, granularity="5m", now=now)
    computed_before = dict(
        Rollup.objects.filter(project_id=project.id, granularity="5m").values_list("bucket", "computed_at")
    )
    late_before = late_counter("5m")

    late_rows = [
        make_event(
            project.id,
            START + timedelta(minutes=11),
            event="CALL_OUT",
            distinct_id="late-1",
            properties={"duration_sec": 99999},
        ),
        make_event(project.id, START + timedelta(minutes=12), event="SMS_SENT", distinct_id="late-2"),
        make_event(project.id, START + timedelta(minutes=13), event="brand_new_event", distinct_id="late-2"),
        make_event(
            project.id, START + timedelta(minutes=41), event="DATA", distinct_id="user-1", properties={"bytes_up": 1.5}
        ),
    ]
    insert(late_rows)
    version_before_run = data_version(project.id)
    result = aggregation_run(project_id=project.id, granularity="5m", now=now)

    dirty = {START + timedelta(minutes=10), START + timedelta(minutes=40)}
    assert set(result.dirty_buckets) == dirty
    assert result.late_events == 4
    assert late_counter("5m") - late_before == 4
    assert_rollups_equal(stored_rollups(project.id, "5m"), expected_rollups(rows + late_rows, "5m", "UTC", MEASURES))
    computed_after = dict(
        Rollup.objects.filter(project_id=project.id, granularity="5m").values_list("bucket", "computed_at")
    )
    rewritten = {bucket for bucket, at in computed_after.items() if computed_before.get(bucket) != at}
    assert rewritten == dirty
    # Trends cached between the late events' arrival and this run read the old buckets.
    assert data_version(project.id) != version_before_run


def test_late_events_update_the_day_and_month_buckets_from_raw_events(store: object) -> None:
    _, project = member_with_project(timezone="America/New_York")
    rows = random_events(project.id, START, timedelta(hours=3), 300, seed=12)
    insert(rows)
    now = START + timedelta(days=40)
    for granularity in ("1d", "1mo"):
        aggregation_run(project_id=project.id, granularity=granularity, now=now)

    late_rows = [
        make_event(
            project.id,
            START + timedelta(hours=1),
            event="DATA",
            distinct_id="someone-new",
            properties={"duration_sec": 1},
        )
    ]
    insert(late_rows)
    for granularity in ("1d", "1mo"):
        result = aggregation_run(project_id=project.id, granularity=granularity, now=now)
        assert result.late_events == 1
        expected = expected_rollups(rows + late_rows, granularity, "America/New_York", MEASURES)
        assert_rollups_equal(stored_rollups(project.id, granularity), expected)


def test_an_event_inserted_before_the_run_is_not_late(store: object) -> None:
    _, project = member_with_project()
    insert(random_events(project.id, START, timedelta(minutes=30), 100, seed=13))
    result = aggregation_run(project_id=project.id, granularity="1m", now=START + timedelta(hours=1))
    again = aggregation_run(project_id=project.id, granularity="1m", now=START + timedelta(hours=1))

    assert result.late_events == 0
    assert again.late_events == 0
    assert Watermark.objects.get(project=project, granularity="1m").last_run_late_events == 0
