"""Rollups equal an independent computation on the same events, for every granularity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.aggregation.models import Rollup, Watermark
from analytics.aggregation.services import aggregation_run
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

START = datetime(2026, 5, 30, 22, 0, tzinfo=UTC)
MEASURES = ["revenue", "duration_sec", "bytes_up", "bytes_down"]


@pytest.mark.parametrize("granularity", ["1m", "5m", "1h", "1d", "1mo"])
def test_rollups_equal_an_independent_computation(store: object, granularity: str) -> None:
    _, project = member_with_project(timezone="Asia/Tokyo")
    rows = random_events(project.id, START, timedelta(hours=5), 3000, seed=7)
    # A re-sent event (same id, new insert) must count once.
    insert(rows)
    insert(rows[:50])

    # Far enough ahead that every bucket of the data, months included, is final.
    result = aggregation_run(project_id=project.id, granularity=granularity, now=START + timedelta(days=45))

    assert result.status == "done"
    expected = expected_rollups(rows, granularity, "Asia/Tokyo", MEASURES)
    assert_rollups_equal(stored_rollups(project.id, granularity), expected)
    assert result.events == len(rows)
    watermark = Watermark.objects.get(project=project, granularity=granularity)
    assert watermark.event_time_mark is not None
    assert watermark.event_time_mark > START + timedelta(hours=5)


def test_rerun_changes_nothing(store: object) -> None:
    _, project = member_with_project()
    insert(random_events(project.id, START, timedelta(hours=2), 500, seed=3))
    now = START + timedelta(hours=3)
    aggregation_run(project_id=project.id, granularity="5m", now=now)
    before = stored_rollups(project.id, "5m")
    mark = Watermark.objects.get(project=project, granularity="5m").event_time_mark

    again = aggregation_run(project_id=project.id, granularity="5m", now=now)

    assert again.status == "idle"
    assert again.rows_written == 0
    assert stored_rollups(project.id, "5m") == before
    assert Watermark.objects.get(project=project, granularity="5m").event_time_mark == mark


def test_only_buckets_older_than_the_allowed_lateness_are_final(store: object) -> None:
    _, project = member_with_project(aggregation_lateness_seconds=600)
    insert(random_events(project.id, START, timedelta(hours=1), 200, seed=5))
    now = START + timedelta(minutes=50)

    aggregation_run(project_id=project.id, granularity="1m", now=now)

    latest = Rollup.objects.filter(project_id=project.id, granularity="1m").order_by("-bucket").first()
    assert latest is not None
    assert latest.bucket == START + timedelta(minutes=39)
    assert Watermark.objects.get(project=project, granularity="1m").event_time_mark == START + timedelta(minutes=40)


def test_measures_are_exact_whatever_the_json_text_looks_like(store: object) -> None:
    """The JSON parse is skipped for rows whose text cannot hold a measure key; these rows
    are built to trip a careless test: an escaped key, keys nested or inside strings,
    invalid JSON, a measure next to a look-alike name."""
    _, project = member_with_project()
    texts = [
        '{"duration\\u005fsec": 7}',  # escaped key: only the backslash shows it
        '{"nested": {"duration_sec": 99}}',  # not a top-level key: no value
        '{"note": "\\"duration_sec\\": 5"}',  # the name inside a string value
        '{"duration_sec": 12, "bytes_down": 3',  # invalid JSON: no value at all
        '{"duration_seconds": 4, "xbytes_up": 8}',  # look-alike names
        '{"plan": "a", "bytes_up": 1.5}',
        '{"bytes_down": 250, "duration_sec": 3.25}',
        '{ "duration_sec" : 40 }',
    ]
    rows = []
    for index, text in enumerate(texts):
        row = make_event(project.id, START + timedelta(seconds=index), event="DATA", distinct_id=f"u{index % 3}")
        row["properties"] = text
        rows.append(row)
    insert(rows)

    aggregation_run(project_id=project.id, granularity="1m", now=START + timedelta(hours=1))

    expected = expected_rollups(rows, "1m", "UTC", MEASURES)
    actual = stored_rollups(project.id, "1m")
    assert_rollups_equal(actual, expected)
    measures = actual[(START, "DATA")]["measures"]
    assert measures["duration_sec"]["count"] == 3
    assert measures["duration_sec"]["sum"] == 7 + 3.25 + 40
    assert measures["bytes_up"]["count"] == 1
    assert measures["bytes_down"]["count"] == 1
