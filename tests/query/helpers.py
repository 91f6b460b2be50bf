"""Generated events and an independent Python model of the query semantics.

The reference functions here re-state the documented semantics of
``analytics/query/compiler/filters.py`` and ``trends.py`` in plain Python over the same
rows the store holds; the tests compare the engine's answers with them.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from analytics.query.serializers import TrendsQuerySerializer
from tests.warehouse.helpers import event_row

_MISSING = object()
PLANS: list[Any] = ["pro", "free", "Pro", "PRO-trial", 42, "42", 7, 3.5, True, False, "true", None, _MISSING, "", "ünï"]
AMOUNTS: list[Any] = [1, 2, 3.5, 10, 12.25, "7", "abc", True, None, _MISSING, -4, 100, 0]
PATHS = ["/", "/checkout", "/CHECKOUT/done", "/blog/post-1", "/blog/post-22", "/a.b", _MISSING]
BROWSERS = ["Chrome", "Chrome", "Chrome", "Firefox", "Firefox", "Safari", "Edge", "", "Opera"]
EVENTS = ["pageview", "pageview", "purchase", "signup"]


def generate(project_id: int, *, start: datetime, hours: int, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` events spread over ``hours`` from ``start``, with mixed property types."""
    rng = random.Random(seed)
    persons = [(f"user-{n}", str(uuid.UUID(int=rng.getrandbits(128)))) for n in range(25)]
    rows = []
    for _ in range(count):
        distinct_id, person_id = rng.choice(persons)
        properties: dict[str, Any] = {}
        for key, choices in (("plan", PLANS), ("amount", AMOUNTS), ("path", PATHS)):
            value = rng.choice(choices)
            if value is not _MISSING:
                properties[key] = value
        moment = start + timedelta(seconds=rng.randrange(hours * 3600))
        rows.append(
            event_row(
                project_id,
                event=rng.choice(EVENTS),
                distinct_id=distinct_id,
                person_id=person_id,
                timestamp=moment,
                received_at=moment,
                properties=properties,
                browser=rng.choice(BROWSERS),
                country=rng.choice(["DE", "FR", "US", ""]),
            )
        )
    return rows


HOT = {"$browser": "browser", "$country": "country", "event": "event"}


def _number_text(value: str) -> float | None:
    return float(value) if re.fullmatch(r"-?\d+(\.\d+)?", value) else None


def text_view(row: dict[str, Any], key: str) -> str | None:
    if key in HOT:
        return row.get(HOT[key]) or None
    value = row["properties"].get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def number_view(row: dict[str, Any], key: str) -> float | None:
    if key in HOT:
        return _number_text(row.get(HOT[key]) or "")
    value = row["properties"].get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return _number_text(value)


def _equals(row: dict[str, Any], key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return text_view(row, key) == ("true" if value else "false")
    if isinstance(value, int | float):
        return number_view(row, key) == float(value)
    return text_view(row, key) == value


def _is_set(row: dict[str, Any], key: str) -> bool:
    if key in HOT:
        return bool(row.get(HOT[key]))
    return row["properties"].get(key) is not None


def _numeric(test: Callable[[float], bool]) -> Callable[[dict[str, Any], str, Any], bool]:
    def check(row: dict[str, Any], key: str, value: Any) -> bool:
        number = number_view(row, key)
        return number is not None and test(number)

    return check


def _positive(operator: str) -> Callable[[dict[str, Any], str, Any], bool]:
    text = text_view
    return {
        "eq": _equals,
        "in": lambda row, key, value: any(_equals(row, key, item) for item in value),
        "contains": lambda row, key, value: text(row, key) is not None and value.lower() in text(row, key).lower(),
        "regex": lambda row, key, value: text(row, key) is not None and re.search(value, text(row, key)) is not None,
        "is_set": lambda row, key, value: _is_set(row, key),
    }[operator]


_NEGATIONS = {"neq": "eq", "not_in": "in", "not_contains": "contains", "not_regex": "regex", "is_not_set": "is_set"}


def matches(row: dict[str, Any], condition: dict[str, Any]) -> bool:
    key, operator, value = condition["key"], condition["operator"], condition.get("value")
    if operator in _NEGATIONS:
        return not _positive(_NEGATIONS[operator])(row, key, value)
    if operator in ("gt", "gte", "lt", "lte"):
        bound = float(value)
        tests = {"gt": lambda x: x > bound, "gte": lambda x: x >= bound, "lt": lambda x: x < bound}
        return _numeric(tests.get(operator, lambda x: x <= bound))(row, key, value)
    if operator == "between":
        low, high = value
        return _numeric(lambda x: low <= x <= high)(row, key, value)
    return _positive(operator)(row, key, value)


def filter_matches(row: dict[str, Any], node: Any) -> bool:
    if isinstance(node, list):
        return all(filter_matches(row, child) for child in node)
    if "op" in node:
        results = [filter_matches(row, child) for child in node["conditions"]]
        return all(results) if node["op"] == "and" else any(results)
    return matches(row, node)


def day_key(moment: datetime, zone: ZoneInfo) -> str:
    """The ISO start of the local day of ``moment``, as the API writes it."""
    day = moment.astimezone(zone).date()
    return datetime.combine(day, time(0), tzinfo=zone).isoformat()


def days(first: date, last: date, zone: ZoneInfo) -> list[str]:
    out, day = [], first
    while day <= last:
        out.append(datetime.combine(day, time(0), tzinfo=zone).isoformat())
        day += timedelta(days=1)
    return out


def moment_of(row: dict[str, Any]) -> datetime:
    value = row["timestamp"]
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, tz=UTC)


def percentile(values: Iterable[float], level: float) -> float:
    """Linear interpolation between closest ranks (R7, ClickHouse quantileExactInclusive)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * level
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def build(body: dict[str, Any], *, time_zone: str = "UTC", now: datetime | None = None) -> Any:
    """A TrendsQuery from a request body, through the serializer."""
    serializer = TrendsQuerySerializer(
        data=body, context={"time_zone": time_zone, "now": now or datetime(2026, 3, 20, 12, tzinfo=UTC)}
    )
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data["query"]


def generate_persons(
    project_id: int, rows: list[dict[str, Any]], *, seed: int = 11
) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    """Versions of the persons of ``rows`` (Arrow tables, to insert in order) and each
    person's expected properties: the latest version's, ``{}`` when deleted or absent.

    Some persons get a newer version with other properties (inserted before the older
    one), some a deleted newest version, some no row at all.
    """
    rng = random.Random(seed)
    person_ids = sorted({row["person_id"] for row in rows})
    versions: list[tuple[str, dict[str, Any], int, int]] = []
    expected: dict[str, dict[str, Any]] = {}
    for index, person_id in enumerate(person_ids):
        if index % 7 == 6:
            expected[person_id] = {}  # no persons row
            continue
        properties = _random_properties(rng)
        versions.append((person_id, properties, 1, 0))
        expected[person_id] = properties
        if index % 3 == 1:
            newer = _random_properties(rng)
            versions.insert(0, (person_id, newer, 2, 0))
            expected[person_id] = newer
        elif index % 5 == 2:
            versions.append((person_id, properties, 3, 1))
            expected[person_id] = {}
    created = datetime(2026, 1, 1, tzinfo=UTC)
    tables = [
        pa.table(
            {
                "project_id": pa.array([project_id], pa.uint64()),
                "person_id": pa.array([person_id]),
                "properties": pa.array([json.dumps(properties)]),
                "created_at": pa.array([created], pa.timestamp("ms", tz="UTC")),
                "version": pa.array([version], pa.uint64()),
                "is_deleted": pa.array([deleted], pa.uint8()),
            }
        )
        for person_id, properties, version, deleted in versions
    ]
    return tables, expected


def _random_properties(rng: random.Random) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for key, choices in (("plan", PLANS), ("age", AMOUNTS)):
        value = rng.choice(choices)
        if value is not _MISSING:
            properties[key] = value
    return properties
