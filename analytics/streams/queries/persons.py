"""ClickHouse SQL for persons: current mappings, properties, and unique-person counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from analytics.warehouse.guard import Query
from analytics.warehouse.identity import person_id_for
from analytics.warehouse.store import EventStore

ZERO_UUID = "00000000-0000-0000-0000-000000000000"

# The person each distinct id belongs to now: the latest mapping, else the id's own person.
CURRENT_MAPPING_SQL = """
SELECT distinct_id, toString(argMax(person_id, version)) AS person
FROM person_distinct_ids
WHERE project_id = {project_id:UInt64} AND distinct_id IN {distinct_ids:Array(String)}
GROUP BY distinct_id
"""

MEMBERS_SQL = """
SELECT distinct_id, toString(current_person) AS person FROM (
    SELECT distinct_id, argMax(person_id, version) AS current_person
    FROM person_distinct_ids
    WHERE project_id = {project_id:UInt64}
      AND distinct_id IN (
          SELECT distinct_id FROM person_distinct_ids
          WHERE project_id = {project_id:UInt64} AND person_id IN {person_ids:Array(UUID)}
      )
    GROUP BY distinct_id
)
WHERE current_person IN {person_ids:Array(UUID)}
"""

PROPERTIES_SQL = """
SELECT toString(person_id) AS person, argMax(properties, version) AS latest_properties,
       toUnixTimestamp64Milli(min(created_at)) AS first_created_ms
FROM persons
WHERE project_id = {project_id:UInt64} AND person_id IN {person_ids:Array(UUID)}
GROUP BY person_id
"""


def current_person_ids(store: EventStore, *, project_id: int, distinct_ids: list[str]) -> dict[str, str]:
    """distinct id -> person id, for the ids that were ever merged (others map to themselves)."""
    if not distinct_ids:
        return {}
    result = store.query(
        Query(
            name="persons.current_mapping",
            sql=CURRENT_MAPPING_SQL,
            params={"project_id": project_id, "distinct_ids": distinct_ids},
        )
    )
    return {row["distinct_id"]: row["person"] for row in result.dicts()}


def distinct_ids_of_persons(store: EventStore, *, project_id: int, person_ids: list[str]) -> dict[str, set[str]]:
    """person id -> the distinct ids mapped to it now (only ids that were ever merged are stored)."""
    if not person_ids:
        return {}
    result = store.query(
        Query(name="persons.members", sql=MEMBERS_SQL, params={"project_id": project_id, "person_ids": person_ids})
    )
    members: dict[str, set[str]] = {}
    for distinct_id, person in result.rows():
        members.setdefault(person, set()).add(distinct_id)
    return members


def person_properties(
    store: EventStore, *, project_id: int, person_ids: list[str]
) -> dict[str, tuple[dict[str, Any], int]]:
    """person id -> (properties, created_at epoch ms) of the latest version."""
    if not person_ids:
        return {}
    result = store.query(
        Query(
            name="persons.properties", sql=PROPERTIES_SQL, params={"project_id": project_id, "person_ids": person_ids}
        )
    )
    found: dict[str, tuple[dict[str, Any], int]] = {}
    for row in result.dicts():
        try:
            properties = orjson.loads(row["latest_properties"])
        except orjson.JSONDecodeError:
            properties = {}
        found[row["person"]] = (properties if isinstance(properties, dict) else {}, int(row["first_created_ms"] or 0))
    return found


def unique_persons_query(*, project_id: int, start: datetime, end: datetime, event: str | None = None) -> Query:
    """Count people, not distinct ids: ids merged by identify/alias count once.

    Events keep the person id of their own distinct id; the latest mapping in
    person_distinct_ids (if any) replaces it.
    """
    event_filter = "AND event = {event:String}" if event else ""
    sql = f"""
SELECT uniqExact(if(m.current_person = toUUID('{ZERO_UUID}'), e.person_id, m.current_person))
FROM (
    SELECT DISTINCT distinct_id, person_id
    FROM events
    WHERE project_id = {{project_id:UInt64}}
      AND timestamp >= {{start:DateTime64(3, 'UTC')}} AND timestamp < {{end:DateTime64(3, 'UTC')}}
      {event_filter}
) AS e
LEFT JOIN (
    SELECT distinct_id, argMax(person_id, version) AS current_person
    FROM person_distinct_ids
    WHERE project_id = {{project_id:UInt64}}
    GROUP BY distinct_id
) AS m ON e.distinct_id = m.distinct_id
"""
    params: dict[str, Any] = {"project_id": project_id, "start": start, "end": end}
    if event:
        params["event"] = event
    return Query(name="persons.unique_count", sql=sql, params=params)


def count_unique_persons(
    store: EventStore, *, project_id: int, start: datetime, end: datetime, event: str | None = None
) -> int:
    """How many people did anything (or ``event``) in [start, end)."""
    return int(
        store.query(unique_persons_query(project_id=project_id, start=start, end=end, event=event)).scalar() or 0
    )


def person_get(store: EventStore, *, project_id: int, distinct_id: str) -> dict[str, Any] | None:
    """The person behind a distinct id: id, properties and every distinct id it has."""
    person_id = current_person_ids(store, project_id=project_id, distinct_ids=[distinct_id]).get(distinct_id)
    person_id = person_id or person_id_for(project_id, distinct_id)
    properties = person_properties(store, project_id=project_id, person_ids=[person_id]).get(person_id)
    members = distinct_ids_of_persons(store, project_id=project_id, person_ids=[person_id]).get(person_id, set())
    members.add(distinct_id)
    return {
        "person_id": person_id,
        "properties": properties[0] if properties else {},
        "distinct_ids": sorted(members),
    }
