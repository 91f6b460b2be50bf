"""Generated persons and events, and an independent Python model of segment semantics.

The reference here re-states docs/segments.md in plain Python over the same rows the
store holds (person properties with the operators of tests/query/helpers.py); the tests
compare the engine's members with it.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pyarrow as pa
from django.conf import settings

from analytics.core.timeutils import utc_now
from analytics.query.compiler.params import Params
from analytics.segments import queries
from analytics.segments.selectors import members_sql
from analytics.streams.persons import PERSONS_SCHEMA
from analytics.warehouse.guard import Query
from tests.query.helpers import filter_matches, matches
from tests.warehouse.helpers import event_row

EVENTS = ["pageview", "pageview", "pageview", "purchase", "signup"]
PLANS: list[Any] = ["pro", "free", "Pro", 42, None]
COUNTRIES = ["DE", "FR", "US", ""]
# Bought in the last 60 days and not on the free plan (a filter in tests of reports).
BUYERS = {
    "op": "and",
    "conditions": [
        {"kind": "behavioral", "event": "purchase", "count": 1, "within_days": 60},
        {"kind": "person", "key": "plan", "operator": "neq", "value": "free"},
    ],
}


@dataclass
class World:
    project_id: int
    now: datetime
    time_zone: str
    events: list[dict[str, Any]] = field(default_factory=list)
    persons: dict[str, dict[str, Any]] = field(default_factory=dict)  # person id -> properties (no row: absent)

    def event_persons(self) -> set[str]:
        return {row["person_id"] for row in self.events}

    def events_of(self, person_id: str) -> list[dict[str, Any]]:
        return sorted((row for row in self.events if row["person_id"] == person_id), key=lambda row: row["timestamp"])


def generate(project_id: int, *, now: datetime, persons: int = 60, seed: int = 11, time_zone: str = "UTC") -> World:
    """Persons with 0..30 events over the last 90 days (whole seconds), some with a persons
    row (some deleted), mixed property types."""
    rng = random.Random(seed)
    world = World(project_id=project_id, now=now, time_zone=time_zone)
    for index in range(persons):
        person_id = str(uuid.UUID(int=rng.getrandbits(128)))
        distinct_id = f"user-{index}"
        span_days = rng.choice([2, 10, 45, 90])
        offset_days = rng.choice([0, 0, 0, 20, 40])  # some persons quiet lately
        for _ in range(rng.randrange(1, 30)):
            seconds = rng.randrange(offset_days * 86400, (offset_days + span_days) * 86400)
            moment = now - timedelta(seconds=seconds)
            event = rng.choice(EVENTS)
            properties: dict[str, Any] = {}
            plan = rng.choice(PLANS)
            if plan is not None:
                properties["plan"] = plan
            world.events.append(
                event_row(
                    project_id,
                    event=event,
                    distinct_id=distinct_id,
                    person_id=person_id,
                    timestamp=moment,
                    received_at=moment,
                    properties=properties,
                    browser=rng.choice(["Chrome", "Firefox", ""]),
                    revenue=float(rng.choice([0, 5, 20])) if event == "purchase" else None,
                )
            )
        if rng.random() < 0.8:
            props: dict[str, Any] = {}
            for key, choices in (("plan", PLANS), ("country", COUNTRIES), ("age", [17, 30, "45", 61, None])):
                value = rng.choice(choices)
                if value is not None:
                    props[key] = value
            world.persons[person_id] = props
    return world


def new_persons_events(project_id: int, start: int, count: int, moment: datetime) -> list[dict[str, Any]]:
    """One ``pageview`` each of ``count`` new persons (distinct ids ``p<start>``, ...)."""
    return [
        event_row(project_id, distinct_id=f"p{n}", person_id=str(uuid.uuid4()), timestamp=moment, received_at=moment)
        for n in range(start, start + count)
    ]


def store_world(store: Any, world: World, *, deleted: tuple[str, ...] = ()) -> None:
    store.insert_events(world.events, dedup_token=f"segments-{world.project_id}-{uuid.uuid4()}")
    rows = []
    for person_id, props in world.persons.items():
        rows.append(_person_row(world.project_id, person_id, {"stale": True}, version=1))
        rows.append(_person_row(world.project_id, person_id, props, version=2, deleted=person_id in deleted))
    if rows:
        store.insert_arrow("persons", pa.Table.from_pylist(rows, schema=PERSONS_SCHEMA))
    for person_id in deleted:
        world.persons.pop(person_id, None)


def _person_row(project_id: int, person_id: str, props: dict[str, Any], *, version: int, deleted: bool = False) -> dict:
    return {
        "project_id": project_id,
        "person_id": person_id,
        "properties": orjson.dumps(props).decode(),
        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
        "version": version,
        "is_deleted": int(deleted),
    }


def members(store: Any, project_id: int, segment_id: int, *, now: datetime, force_query_time: bool = False) -> set[str]:
    params = Params(project_id=project_id)
    sql = members_sql(
        project_id=project_id, segment_id=segment_id, params=params, now=now, force_query_time=force_query_time
    )
    rows = store.query(Query(name="test.members", sql=f"SELECT toString(person_id) FROM ({sql})", params=params.values))
    return {row[0] for row in rows.rows()}


def after_grace() -> datetime:
    """A moment past SEGMENT_SET_GRACE_SECONDS from now: what the clean-up task sees later."""
    return utc_now() + timedelta(seconds=settings.SEGMENT_SET_GRACE_SECONDS + 1)


def set_names(store: Any, project_id: int, segment_id: int) -> list[str]:
    rows = store.query(queries.sets_query(project_id=project_id, segment_id=segment_id)).rows()
    return [row[0] for row in rows]


def member_versions(store: Any, project_id: int, segment_id: int, *, settle: set[int] | None = None) -> set[int]:
    """The versions with rows in segment_members; with ``settle``, waited for (up to 20 s)
    to become that set: a delete is a mutation, asynchronous."""
    query = Query(
        name="test.member_versions",
        sql="SELECT DISTINCT version FROM segment_members WHERE project_id = {project_id:UInt64}"
        " AND segment_id = {segment_id:UInt64}",
        params={"project_id": project_id, "segment_id": segment_id},
    )
    deadline = time.monotonic() + 20
    while True:
        found = {int(row[0]) for row in store.query(query).rows()}
        if settle is None or found == settle or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


# ---------------------------------------------------------------------- the reference
def _moment(row: dict[str, Any]) -> datetime:
    value = row["timestamp"]
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value / 1000, tz=UTC)


def _window(node: dict[str, Any], now: datetime, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    if node.get("within_days") is not None:
        return now - timedelta(days=node["within_days"]), now
    if node.get("from") is not None:
        return datetime.fromisoformat(node["from"]), datetime.fromisoformat(node["to"])
    return None, None


def _in_window(row: dict[str, Any], window: tuple[datetime | None, datetime | None]) -> bool:
    start, end = window
    moment = _moment(row)
    return (start is None or moment >= start) and (end is None or moment < end)


def _event_matches(row: dict[str, Any], event: str | None, filters: Any) -> bool:
    if event is not None and row["event"] != event:
        return False
    if not filters:
        return True
    # $revenue is the typed column ``revenue``; the query helpers read it as a property.
    view = {**row, "properties": {**row["properties"], "$revenue": row.get("revenue")}}
    return filter_matches(view, filters)


_COMPARE = {
    "gte": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "eq": lambda a, b: a == b,
    "lte": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


def _behavioral(node: dict[str, Any], rows: list[dict[str, Any]], world: World) -> bool:
    now, zone = world.now, ZoneInfo(world.time_zone)
    behavior = node.get("behavior", "performed")
    if behavior == "first_seen":
        return min(_moment(row) for row in rows) >= now - timedelta(days=node["within_days"])
    if behavior == "last_seen":
        return max(_moment(row) for row in rows) < now - timedelta(days=node["more_than_days"])
    window = _window(node, now, zone)
    hits = [
        row for row in rows if _in_window(row, window) and _event_matches(row, node.get("event"), node.get("filters"))
    ]
    if behavior == "not_performed":
        return not hits
    if behavior == "sequence":
        thens = [
            row
            for row in rows
            if _in_window(row, window) and _event_matches(row, node.get("then_event"), node.get("then_filters"))
        ]
        seconds = [int(_moment(row).timestamp()) for row in hits]
        then_seconds = [int(_moment(row).timestamp()) for row in thens]
        return any(0 < t - s <= node["window_seconds"] for s in seconds for t in then_seconds)
    if node.get("count_unit") == "days":
        value = len({_moment(row).astimezone(zone).date() for row in hits})
    else:
        value = len(hits)
    return _COMPARE[node.get("count_operator", "gte")](value, node.get("count", 1))


def expected(node: dict[str, Any], world: World, segments: dict[int, set[str]] | None = None) -> set[str]:
    """The members of a definition by the documented semantics."""
    return {person for person in world.event_persons() if _holds(node, person, world, segments or {})}


def _holds(node: dict[str, Any], person: str, world: World, segments: dict[int, set[str]]) -> bool:
    if "conditions" in node:
        results = [_holds(child, person, world, segments) for child in node["conditions"]]
        value = all(results) if node.get("op") == "and" else any(results)
    elif node["kind"] == "person":
        value = matches({"properties": world.persons.get(person, {})}, node)
    elif node["kind"] == "segment":
        value = person in segments[node["segment"]]
    else:
        value = _behavioral(node, world.events_of(person), world)
    return not value if node.get("negate") else value
