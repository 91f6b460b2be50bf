"""Day buckets start at local midnight of the project's time zone, across DST changes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from analytics.aggregation.models import Rollup
from analytics.aggregation.services import aggregation_run
from tests.aggregation.helpers import assert_rollups_equal, expected_rollups, insert, make_event, stored_rollups
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db

MEASURES = ["revenue", "duration_sec", "bytes_up", "bytes_down"]


@pytest.mark.parametrize(
    ("tz_name", "first_event", "midnights"),
    [
        # Europe/Berlin springs forward on 2026-03-29 (02:00 CET -> 03:00 CEST): a 23-hour day.
        (
            "Europe/Berlin",
            datetime(2026, 3, 27, 23, 30, tzinfo=UTC),
            [
                datetime(2026, 3, 27, 23, tzinfo=UTC),
                datetime(2026, 3, 28, 23, tzinfo=UTC),
                datetime(2026, 3, 29, 22, tzinfo=UTC),
            ],
        ),
        # America/New_York falls back on 2026-11-01 (02:00 EDT -> 01:00 EST): a 25-hour day.
        (
            "America/New_York",
            datetime(2026, 10, 31, 4, 30, tzinfo=UTC),
            [
                datetime(2026, 10, 31, 4, tzinfo=UTC),
                datetime(2026, 11, 1, 4, tzinfo=UTC),
                datetime(2026, 11, 2, 5, tzinfo=UTC),
            ],
        ),
    ],
)
def test_day_buckets_start_at_local_midnight_across_dst(
    store: object, tz_name: str, first_event: datetime, midnights: list[datetime]
) -> None:
    _, project = member_with_project(timezone=tz_name)
    rows = []
    moment = first_event
    # One event every 20 minutes for 60 hours: covers the three local days.
    for index in range(180):
        rows.append(
            make_event(
                project.id, moment, event="CALL_OUT", distinct_id=f"u{index % 7}", properties={"duration_sec": index}
            )
        )
        moment += timedelta(minutes=20)
    # Events just before and just after the local midnight between days 2 and 3.
    rows.append(make_event(project.id, midnights[2] - timedelta(milliseconds=1), event="edge", distinct_id="a"))
    rows.append(make_event(project.id, midnights[2], event="edge", distinct_id="b"))
    insert(rows)

    aggregation_run(project_id=project.id, granularity="1d", now=first_event + timedelta(days=5))

    buckets = sorted(
        set(Rollup.objects.filter(project_id=project.id, granularity="1d").values_list("bucket", flat=True))
    )
    assert [bucket.astimezone(UTC) for bucket in buckets] == midnights
    lengths = {(later - earlier) for earlier, later in itertools.pairwise(midnights)}
    assert timedelta(hours=24) in lengths
    assert len(lengths) == 2
    edge = Rollup.objects.filter(project_id=project.id, granularity="1d", event="edge").order_by("bucket")
    assert [(row.bucket.astimezone(UTC), row.count) for row in edge] == [(midnights[1], 1), (midnights[2], 1)]
    assert_rollups_equal(stored_rollups(project.id, "1d"), expected_rollups(rows, "1d", tz_name, MEASURES))


def test_month_buckets_start_at_local_midnight_of_the_first(store: object) -> None:
    _, project = member_with_project(timezone="Europe/Berlin")
    rows = [
        make_event(project.id, datetime(2026, 3, 31, 21, 59, tzinfo=UTC), distinct_id="march"),  # 23:59 CEST
        make_event(project.id, datetime(2026, 3, 31, 22, 0, tzinfo=UTC), distinct_id="april"),  # 00:00 CEST
    ]
    insert(rows)

    aggregation_run(project_id=project.id, granularity="1mo", now=datetime(2026, 6, 1, tzinfo=UTC))

    buckets = list(
        Rollup.objects.filter(project_id=project.id, granularity="1mo")
        .order_by("bucket")
        .values_list("bucket", "count")
    )
    assert [(bucket.astimezone(UTC), count) for bucket, count in buckets] == [
        (datetime(2026, 2, 28, 23, tzinfo=UTC), 1),
        (datetime(2026, 3, 31, 22, tzinfo=UTC), 1),
    ]
