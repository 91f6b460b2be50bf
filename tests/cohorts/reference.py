"""Generated events and an independent Python model of retention (``docs/retention.md``).

The reference re-states the documented semantics in plain Python over the same rows the
store holds: calendar periods in the zone from ``datetime``/``zoneinfo``, membership and
returns from sets. The tests compare the engine's answers with it.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.cohorts.serializers import RetentionQuerySerializer
from tests.query.helpers import filter_matches, moment_of, text_view
from tests.warehouse.helpers import event_row

PLANS = ["free", "pro", "team", None]


def generate(
    project_id: int, *, start: datetime, days: int, persons: int, events: int, seed: int = 11
) -> list[dict[str, Any]]:
    """``events`` events of ``persons`` users spread over ``days`` from ``start``; distinct timestamps."""
    rng = random.Random(seed)
    people = [(f"user-{n}", str(uuid.UUID(int=rng.getrandbits(128)))) for n in range(persons)]
    seconds = rng.sample(range(days * 86400), events)
    rows = []
    for offset in seconds:
        distinct_id, person_id = rng.choice(people)
        moment = start + timedelta(seconds=offset)
        plan = rng.choice(PLANS)
        rows.append(
            event_row(
                project_id,
                event=rng.choice(["signup", "pageview", "pageview", "purchase"]),
                distinct_id=distinct_id,
                person_id=person_id,
                timestamp=moment,
                received_at=moment,
                properties={} if plan is None else {"plan": plan},
                browser=rng.choice(["Chrome", "Firefox", ""]),
            )
        )
    return rows


def period_number(moment: datetime, period: str, zone: ZoneInfo) -> int:
    day = moment.astimezone(zone).date()
    if period == "day":
        return day.toordinal()
    if period == "week":
        return (day - timedelta(days=day.weekday())).toordinal() // 7
    return day.year * 12 + day.month - 1


def period_start(number: int, period: str, zone: ZoneInfo) -> datetime:
    if period == "day":
        day = date.fromordinal(number)
    elif period == "week":
        day = date.fromordinal(number * 7 + 1)  # ordinal 1 (0001-01-01) is a Monday
    else:
        day = date(number // 12, number % 12 + 1, 1)
    return datetime.combine(day, time(0), tzinfo=zone)


@dataclass(frozen=True)
class Spec:
    event: str
    properties: Any = None

    def matches(self, row: dict[str, Any]) -> bool:
        return row["event"] == self.event and (self.properties is None or filter_matches(row, self.properties))


def _members(
    rows: list[dict[str, Any]], cohort: Spec, mode: str, start: datetime, end: datetime, period: str, zone: ZoneInfo
) -> dict[tuple[str, int], dict[str, Any]]:
    """(person, cohort number) -> the cohort event that put them there (first-ever / earliest in period)."""
    events = sorted((row for row in rows if cohort.matches(row)), key=moment_of)
    members: dict[tuple[str, int], dict[str, Any]] = {}
    seen: set[str] = set()
    for row in events:
        person, moment = row["person_id"], moment_of(row)
        if mode == "first_time":
            if person in seen:
                continue
            seen.add(person)
        if start <= moment < end:
            members.setdefault((person, period_number(moment, period, zone)), row)
    return members


def reference(
    rows: list[dict[str, Any]],
    *,
    cohort: Spec,
    returns: Spec,
    period: str,
    periods: int,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    mode: str,
    returning: str,
    now: datetime,
    group_of: Any = None,
) -> dict[Any, list[dict[str, Any]]]:
    """Breakdown group (None without ``group_of``) -> [{"start", "size", "values"}] per cohort."""
    members = _members(rows, cohort, mode, start, end, period, zone)
    returned: dict[str, set[int]] = defaultdict(set)
    for row in rows:
        if returns.matches(row) and moment_of(row) < now:
            returned[row["person_id"]].add(period_number(moment_of(row), period, zone))
    first, last = period_number(start, period, zone), period_number(end - timedelta(microseconds=1), period, zone)
    tables: dict[Any, dict[int, list[int]]] = defaultdict(dict)
    for (person, number), row in members.items():
        counts = tables[group_of(row) if group_of else None].setdefault(number, [0] * (periods + 1))
        counts[0] += 1
        for k in range(1, periods + 1):
            if returning == "on":
                hit = number + k in returned[person]
            else:
                hit = any(n >= number + k for n in returned[person])
            counts[k] += hit
    answer = {}
    for group, counts in tables.items():
        table = []
        for number in range(first, last + 1):
            values: list[int | None] = list(counts.get(number, [0] * (periods + 1)))
            for k in range(1, periods + 1):
                if period_start(number + k, period, zone) >= now:
                    values[k] = None
            table.append({"start": period_start(number, period, zone).isoformat(), "size": values[0], "values": values})
        answer[group] = table
    return answer


def event_value(key: str) -> Any:
    return lambda row: text_view(row, key) or None


def build(body: dict[str, Any], *, time_zone: str, now: datetime) -> Any:
    serializer = RetentionQuerySerializer(data=body, context={"time_zone": time_zone, "now": now})
    assert serializer.is_valid(), serializer.errors
    return serializer.validated_data["query"]


NOW = datetime(2026, 4, 20, 15, 30, tzinfo=UTC)
