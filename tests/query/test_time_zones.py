"""Buckets in a non-UTC project time zone across the change to summer time (Europe/Berlin, 2026-03-29)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.query.model import DateRange
from analytics.query.runner import run_trends
from analytics.query.timerange import RangeError, iter_buckets, parse_moment, previous_range
from tests.query.helpers import build
from tests.warehouse.helpers import event_row, new_project_id

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
# Local wall-clock times; 2026-03-29 02:00 CET jumps to 03:00 CEST.
LOCAL_TIMES = [
    datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN),
    datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN),  # 22:30 UTC
    datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN),  # 23:30 UTC on the 28th: the 29th locally
    datetime(2026, 3, 29, 1, 59, tzinfo=BERLIN),
    datetime(2026, 3, 29, 3, 0, tzinfo=BERLIN),  # 01:00 UTC, first hour of summer time
    datetime(2026, 3, 29, 23, 30, tzinfo=BERLIN),  # 21:30 UTC
    datetime(2026, 3, 30, 0, 10, tzinfo=BERLIN),  # 22:10 UTC on the 29th: the 30th locally
]


@pytest.fixture(scope="module")
def berlin(clickhouse_store: Any) -> int:
    project_id = new_project_id()
    rows = [event_row(project_id, timestamp=moment.astimezone(UTC), received_at=moment) for moment in LOCAL_TIMES]
    clickhouse_store.insert_events(rows, dedup_token=f"query-dst-{project_id}")
    return project_id


def run(project_id: int, body: dict[str, Any]) -> list[tuple[str, int]]:
    answer = run_trends(project_id=project_id, query=build(body, time_zone="Europe/Berlin"))
    return [(point["bucket"], point["value"]) for point in answer["series"][0]["points"]]


def test_day_buckets_start_at_local_midnight_across_the_change(berlin):
    points = run(
        berlin, {"series": [{"event": "pageview"}], "interval": "day", "from": "2026-03-28", "to": "2026-03-30"}
    )

    assert points == [
        ("2026-03-28T00:00:00+01:00", 2),
        ("2026-03-29T00:00:00+01:00", 4),  # a 23-hour day
        ("2026-03-30T00:00:00+02:00", 1),
    ]


def test_hour_buckets_skip_the_missing_hour(berlin):
    points = run(
        berlin, {"series": [{"event": "pageview"}], "interval": "hour", "from": "2026-03-29", "to": "2026-03-29"}
    )

    assert len(points) == 23
    assert points[1] == ("2026-03-29T01:00:00+01:00", 1)
    assert points[2] == ("2026-03-29T03:00:00+02:00", 1)
    assert sum(value for _, value in points) == 4


def test_week_and_month_buckets_in_the_zone(berlin):
    weeks = run(
        berlin, {"series": [{"event": "pageview"}], "interval": "week", "from": "2026-03-23", "to": "2026-04-05"}
    )
    months = run(
        berlin, {"series": [{"event": "pageview"}], "interval": "month", "from": "2026-03-01", "to": "2026-04-30"}
    )

    assert weeks == [("2026-03-23T00:00:00+01:00", 6), ("2026-03-30T00:00:00+02:00", 1)]
    assert months == [("2026-03-01T00:00:00+01:00", 7), ("2026-04-01T00:00:00+02:00", 0)]


def test_python_buckets_across_the_autumn_change():
    starts = list(
        iter_buckets(
            DateRange(datetime(2026, 10, 24, 22, tzinfo=UTC), datetime(2026, 10, 26, 23, tzinfo=UTC)), "day", BERLIN
        )
    )

    assert [start.astimezone(BERLIN).isoformat() for start in starts] == [
        "2026-10-25T00:00:00+02:00",  # a 25-hour day
        "2026-10-26T00:00:00+01:00",
    ]
    assert starts[1] - starts[0] == timedelta(hours=25)


NOW = datetime(2026, 3, 30, 10, 15, tzinfo=UTC)  # 12:15 in Berlin (summer time)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-24h", datetime(2026, 3, 29, 10, 15, tzinfo=UTC)),
        ("-1d", datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)),
        ("-7d", datetime(2026, 3, 23, 0, 0, tzinfo=BERLIN)),
        ("-2w", datetime(2026, 3, 16, 0, 0, tzinfo=BERLIN)),
        ("-3m", datetime(2025, 12, 30, 0, 0, tzinfo=BERLIN)),
        ("-1y", datetime(2025, 3, 30, 0, 0, tzinfo=BERLIN)),
        ("mtd", datetime(2026, 3, 1, 0, 0, tzinfo=BERLIN)),
        ("ytd", datetime(2026, 1, 1, 0, 0, tzinfo=BERLIN)),
        ("2026-03-29", datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN)),
        ("2026-03-29T10:00:00", datetime(2026, 3, 29, 10, 0, tzinfo=BERLIN)),
        ("2026-03-29T10:00:00Z", datetime(2026, 3, 29, 10, 0, tzinfo=UTC)),
    ],
)
def test_relative_and_absolute_dates_in_the_project_zone(text, expected):
    assert parse_moment(text, BERLIN, NOW, is_end=False) == expected


def test_a_date_as_end_includes_that_day():
    assert parse_moment("2026-03-29", BERLIN, NOW, is_end=True) == datetime(2026, 3, 30, tzinfo=BERLIN)


def test_bad_date_is_refused():
    with pytest.raises(RangeError):
        parse_moment("yesterday-ish", BERLIN, NOW, is_end=False)


def test_previous_period_of_local_days_across_the_change():
    current = DateRange(datetime(2026, 3, 30, tzinfo=BERLIN), datetime(2026, 4, 6, tzinfo=BERLIN))

    previous = previous_range(current, BERLIN)

    assert previous.start == datetime(2026, 3, 23, tzinfo=BERLIN)  # seven local days, 167 hours
    assert previous.end == current.start
