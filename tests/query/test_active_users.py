"""DAU/WAU/MAU at the edges of the compiler's two paths, against a plain Python count.

Scans (the range plus the 29 days before it) of 128 days fill the ``UInt128`` mask to its
last bit, 129 and 256 days take the ``UInt256`` mask (256: to its last bit), 257 days the
array path. Some persons are active on exactly the first and the last scanned local day of
a range (the mask's lowest and highest bits), others on the local day just outside the
scan; the rest are random, some near local midnights.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from analytics.query.compiler.active_users import MONTH_DAYS
from analytics.query.presets import run_preset, validate_preset
from tests.warehouse.helpers import event_row, new_project_id

ZONES = ("UTC", "Europe/Berlin")
NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)
LAST_DAY = date(2026, 9, 30)
# Range lengths whose scans are 128, 129, 256 and 257 days.
RANGE_DAYS = (99, 100, 227, 228)
EARLIEST = LAST_DAY - timedelta(days=max(RANGE_DAYS) + MONTH_DAYS)


def first_day(range_days: int) -> date:
    return LAST_DAY - timedelta(days=range_days - 1)


def at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def generate(project_id: int, zone: ZoneInfo) -> list[dict[str, Any]]:
    rng = random.Random(128)
    moments: list[tuple[str, datetime]] = []
    for range_days in RANGE_DAYS:
        scan_first = first_day(range_days) - timedelta(days=MONTH_DAYS - 1)
        edge = f"edge-{range_days}"
        moments += [(edge, at(scan_first, time(0, 0, 1), zone)), (edge, at(LAST_DAY, time(23, 59, 59), zone))]
        outside = f"outside-{range_days}"
        moments += [
            (outside, at(scan_first - timedelta(days=1), time(23, 59, 59), zone)),
            (outside, at(LAST_DAY + timedelta(days=1), time(0, 0, 1), zone)),
        ]
    span = (LAST_DAY - EARLIEST).days + 2
    for number in range(30):
        for _ in range(rng.choice([1, 3, 10, 40])):
            day = EARLIEST + timedelta(days=rng.randrange(span))
            clock = rng.choice([time(0, 0, 1), time(23, 59, 59), time(rng.randrange(24), rng.randrange(60))])
            moments.append((f"user-{number}", at(day, clock, zone)))
    person_ids = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name, _ in moments}
    return [
        event_row(
            project_id,
            event="$pageview",
            distinct_id=name,
            person_id=person_ids[name],
            timestamp=moment,
            received_at=moment,
            retention_days=3650,
        )
        for name, moment in moments
        if moment < NOW
    ]


@pytest.fixture(scope="module")
def loaded(clickhouse_store: Any) -> dict[str, tuple[int, list[dict[str, Any]]]]:
    projects = {}
    for zone_name in ZONES:
        project_id = new_project_id()
        rows = generate(project_id, ZoneInfo(zone_name))
        clickhouse_store.insert_events(rows, dedup_token=f"active-users-{project_id}")
        projects[zone_name] = (project_id, rows)
    return projects


def expected_points(rows: list[dict[str, Any]], zone: ZoneInfo, first: date) -> list[dict[str, Any]]:
    active: dict[date, set[str]] = defaultdict(set)
    for row in rows:
        active[row["timestamp"].astimezone(zone).date()].add(row["person_id"])

    def window(day: date, days: int) -> set[str]:
        return set().union(*(active[day - timedelta(days=back)] for back in range(days)))

    points, day = [], first
    while day <= LAST_DAY:
        dau, wau, mau = len(active[day]), len(window(day, 7)), len(window(day, MONTH_DAYS))
        bucket = datetime.combine(day, time(0), tzinfo=zone).isoformat()
        points.append({"bucket": bucket, "dau": dau, "wau": wau, "mau": mau, "stickiness": dau / mau if mau else None})
        day += timedelta(days=1)
    return points


@pytest.mark.parametrize("zone_name", ZONES)
@pytest.mark.parametrize("range_days", RANGE_DAYS)
def test_active_users_at_the_mask_edges_match_the_python_model(loaded, zone_name, range_days):
    zone = ZoneInfo(zone_name)
    project_id, rows = loaded[zone_name]
    first = first_day(range_days)
    body = {"from": first.isoformat(), "to": LAST_DAY.isoformat()}

    result = run_preset(
        project_id=project_id, query=validate_preset("active_users", body, time_zone=zone_name, now=NOW)
    )

    expected = expected_points(rows, zone, first)
    assert len(expected) == range_days
    assert result["points"] == expected
    # The person active on exactly the first and the last scanned day is in the first MAU and the last DAU.
    others = expected_points([row for row in rows if row["distinct_id"] != f"edge-{range_days}"], zone, first)
    assert (expected[0]["mau"], expected[-1]["dau"]) == (others[0]["mau"] + 1, others[-1]["dau"] + 1)
