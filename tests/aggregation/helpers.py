"""Test events and an independent Python computation of what the rollups must hold.

The expected figures are computed here from the same rows with plain Python (zoneinfo
for bucket boundaries, sets for unique users, sorted lists for percentiles), sharing no
code with analytics.aggregation.
"""

from __future__ import annotations

import json
import math
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.aggregation.models import Rollup
from analytics.warehouse.store import get_store

EVENT_NAMES = ("CALL_OUT", "SMS_SENT", "DATA", "purchase")
LEVELS = {"p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9, "p99": 0.99}


def make_event(
    project_id: int,
    timestamp: datetime,
    *,
    event: str = "DATA",
    distinct_id: str = "u1",
    properties: dict[str, Any] | None = None,
    revenue: float | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    milliseconds = int(timestamp.timestamp() * 1000)
    return {
        "project_id": project_id,
        "event_id": event_id or str(uuid.uuid4()),
        "event": event,
        "distinct_id": distinct_id,
        "person_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project_id}/{distinct_id}")),
        "timestamp": milliseconds,
        "received_at": milliseconds,
        "properties": json.dumps(properties or {}),
        "revenue": revenue,
    }


def random_events(project_id: int, start: datetime, span: timedelta, count: int, seed: int) -> list[dict[str, Any]]:
    """Telecom-like events with some measures missing, spread over [start, start + span)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        moment = start + timedelta(milliseconds=rng.randrange(int(span.total_seconds() * 1000)))
        name = rng.choice(EVENT_NAMES)
        properties: dict[str, Any] = {"plan": rng.choice(["a", "b"])}
        if name in ("CALL_OUT", "DATA") or rng.random() < 0.1:
            properties["duration_sec"] = rng.randint(0, 3600)
        if name == "DATA":
            properties["bytes_up"] = round(rng.uniform(0, 1e6), 3)
            properties["bytes_down"] = rng.randint(0, 10**8)
        revenue = round(rng.uniform(1, 500), 2) if name == "purchase" else None
        rows.append(
            make_event(
                project_id,
                moment,
                event=name,
                distinct_id=f"user-{rng.randrange(40)}",
                properties=properties,
                revenue=revenue,
            )
        )
    return rows


def insert(rows: Sequence[dict[str, Any]]) -> None:
    get_store().insert_events(list(rows), dedup_token=f"test-{uuid.uuid4()}")


def local_bucket(timestamp_ms: int, granularity: str, tz_name: str) -> datetime:
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    if granularity in ("1m", "5m", "1h"):
        size = {"1m": 60, "5m": 300, "1h": 3600}[granularity]
        seconds = timestamp_ms // 1000
        return datetime.fromtimestamp(seconds - seconds % size, tz=UTC)
    zone = ZoneInfo(tz_name)
    local = moment.astimezone(zone)
    day = 1 if granularity == "1mo" else local.day
    return datetime(local.year, local.month, day, tzinfo=zone).astimezone(UTC)


def percentile_inclusive(sorted_values: list[float], level: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, PERCENTILE.INC)."""
    position = (len(sorted_values) - 1) * level
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (position - lower) * (sorted_values[upper] - sorted_values[lower])


def measure_value(row: dict[str, Any], measure: str) -> float | None:
    if measure == "revenue":
        return row.get("revenue")
    try:
        properties = json.loads(row["properties"])
    except ValueError:  # text that is not JSON holds no measure
        return None
    value = properties.get(measure) if isinstance(properties, dict) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def expected_rollups(
    rows: Iterable[dict[str, Any]], granularity: str, tz_name: str, measures: Sequence[str]
) -> dict[tuple[datetime, str], dict[str, Any]]:
    """{(bucket, event): {"count", "unique_users", "measures": {m: stats}}} from raw rows."""
    groups: dict[tuple[datetime, str], list[dict[str, Any]]] = defaultdict(list)
    unique_rows = {row["event_id"]: row for row in rows}  # a re-sent event id counts once
    for row in unique_rows.values():
        groups[(local_bucket(row["timestamp"], granularity, tz_name), row["event"])].append(row)
    expected = {}
    for key, members in groups.items():
        stats = {}
        for measure in measures:
            values = sorted(v for v in (measure_value(row, measure) for row in members) if v is not None)
            if not values:
                continue
            stats[measure] = {
                "count": len(values),
                "sum": math.fsum(values),
                "min": values[0],
                "max": values[-1],
                "avg": math.fsum(values) / len(values),
                **{name: percentile_inclusive(values, level) for name, level in LEVELS.items()},
            }
        expected[key] = {
            "count": len(members),
            "unique_users": len({row["distinct_id"] for row in members}),
            "measures": stats,
        }
    return expected


def assert_rollups_equal(
    actual: dict[tuple[datetime, str], dict[str, Any]], expected: dict[tuple[datetime, str], dict[str, Any]]
) -> None:
    assert set(actual) == set(expected), (sorted(set(actual) ^ set(expected)))[:5]
    for key, want in expected.items():
        got = actual[key]
        assert got["count"] == want["count"], key
        assert got["unique_users"] == want["unique_users"], key
        assert set(got["measures"]) == set(want["measures"]), key
        for measure, stats in want["measures"].items():
            for name, value in stats.items():
                assert math.isclose(got["measures"][measure][name], value, rel_tol=1e-9, abs_tol=1e-9), (
                    key,
                    measure,
                    name,
                    got["measures"][measure][name],
                    value,
                )


def stored_rollups(project_id: int, granularity: str) -> dict[tuple[datetime, str], dict[str, Any]]:
    return {
        (row.bucket.astimezone(UTC), row.event): {
            "count": row.count,
            "unique_users": row.unique_users,
            "measures": row.measures,
        }
        for row in Rollup.objects.filter(project_id=project_id, granularity=granularity)
    }
