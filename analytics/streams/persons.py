"""Persons: which distinct ids belong to one person, and that person's properties.

Called by :func:`analytics.streams.sink.store_event_batch` after the events are
written, so the embedded mode and the Kafka consumer store exactly the same thing.

- ``$identify`` with ``$anon_distinct_id`` and ``$create_alias`` with ``alias`` merge the
  other distinct id (and every id already pointing at its person) into the person of
  the event's distinct id.
- ``$set`` / ``$set_once`` in properties (Segment ``traits`` arrive as ``$set``) update
  the person's properties; ``$set_once`` never overwrites.

Both tables are ReplacingMergeTree(version): a change writes a new version of a row.
Only batches that contain such events touch the tables, so ordinary traffic costs a
substring test per event.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa

from analytics.streams import metrics
from analytics.streams.queries import persons as person_queries
from analytics.warehouse.identity import person_id_for
from analytics.warehouse.store import EventStore

MERGE_EVENTS = {"$identify": "$anon_distinct_id", "$create_alias": "alias", "$merge_dangerously": "alias"}
_MAX_ID = 200

PERSONS_SCHEMA = pa.schema(
    [
        ("project_id", pa.uint64()),
        ("person_id", pa.string()),
        ("properties", pa.string()),
        ("created_at", pa.timestamp("ms", tz="UTC")),
        ("version", pa.uint64()),
        ("is_deleted", pa.uint8()),
    ]
)
DISTINCT_IDS_SCHEMA = pa.schema(
    [
        ("project_id", pa.uint64()),
        ("distinct_id", pa.string()),
        ("person_id", pa.string()),
        ("version", pa.uint64()),
        ("is_deleted", pa.uint8()),
    ]
)

_version_lock = threading.Lock()
_last_version = 0


def next_version() -> int:
    """Monotonic within the process and close to wall-clock microseconds across processes."""
    global _last_version
    with _version_lock:
        _last_version = max(time.time_ns() // 1000, _last_version + 1)
        return _last_version


@dataclass
class _Change:
    kind: str  # "merge" | "set" | "set_once"
    distinct_id: str
    timestamp: int
    other: str = ""
    values: dict[str, Any] = field(default_factory=dict)


def _affects_persons(row: Mapping[str, Any]) -> bool:
    return row["event"] in MERGE_EVENTS or '"$set' in (row.get("properties") or "")


def person_changes(rows: Sequence[Mapping[str, Any]]) -> dict[int, list[_Change]]:
    """The person changes a batch implies, per project, in batch order."""
    changes: dict[int, list[_Change]] = defaultdict(list)
    for row in rows:
        if not _affects_persons(row):
            continue
        try:
            properties = orjson.loads(row.get("properties") or "{}")
        except orjson.JSONDecodeError:
            continue
        if not isinstance(properties, dict):
            continue
        project_id, distinct_id, timestamp = int(row["project_id"]), row["distinct_id"], int(row["timestamp"])
        other_key = MERGE_EVENTS.get(row["event"])
        other = properties.get(other_key) if other_key else None
        if isinstance(other, str) and other and len(other) <= _MAX_ID and other != distinct_id:
            changes[project_id].append(_Change("merge", distinct_id, timestamp, other=other))
        for key, kind in (("$set_once", "set_once"), ("$set", "set")):
            values = properties.get(key)
            if isinstance(values, dict) and values:
                changes[project_id].append(_Change(kind, distinct_id, timestamp, values=values))
    return changes


def persons_apply(store: EventStore, rows: Sequence[Mapping[str, Any]], *, dedup_token: str) -> None:
    """Write the persons and distinct-id mappings that ``rows`` imply (idempotent per token)."""
    for project_id, changes in person_changes(rows).items():
        _apply_project(store, project_id, changes, dedup_token=f"{dedup_token}:persons:{project_id}")


def _apply_project(store: EventStore, project_id: int, changes: list[_Change], *, dedup_token: str) -> None:
    involved = {change.distinct_id for change in changes} | {change.other for change in changes if change.other}
    mapping = person_queries.current_person_ids(store, project_id=project_id, distinct_ids=sorted(involved))

    def resolve(distinct_id: str) -> str:
        return mapping.get(distinct_id) or person_id_for(project_id, distinct_id)

    new_mappings, merged_into, touched = _apply_merges(store, project_id, changes, mapping, resolve)
    for change in changes:
        if change.kind != "merge":
            touched.setdefault(resolve(change.distinct_id), change.timestamp)

    people = sorted(set(touched) | set(merged_into))
    properties, created = _person_properties(store, project_id, people, changes, touched, merged_into, resolve)

    version = next_version()
    person_rows = [
        {
            "project_id": project_id,
            "person_id": person,
            "properties": orjson.dumps(properties[person]).decode(),
            "created_at": created.get(person) or None,
            "version": version,
            "is_deleted": 1 if person in merged_into else 0,
        }
        for person in people
    ]
    for row in person_rows:
        if row["created_at"] is None:
            row["created_at"] = int(time.time() * 1000)
    store.insert_arrow("persons", pa.Table.from_pylist(person_rows, schema=PERSONS_SCHEMA), dedup_token=dedup_token)
    metrics.PERSON_UPDATES.labels(kind="person").inc(len(person_rows))
    if new_mappings:
        mapping_rows = [
            {
                "project_id": project_id,
                "distinct_id": distinct_id,
                "person_id": person,
                "version": version,
                "is_deleted": 0,
            }
            for distinct_id, person in sorted(new_mappings.items())
        ]
        store.insert_arrow(
            "person_distinct_ids",
            pa.Table.from_pylist(mapping_rows, schema=DISTINCT_IDS_SCHEMA),
            dedup_token=dedup_token + ":ids",
        )
        metrics.PERSON_UPDATES.labels(kind="distinct_id").inc(len(mapping_rows))


def _apply_merges(
    store: EventStore,
    project_id: int,
    changes: list[_Change],
    mapping: dict[str, str],
    resolve: Callable[[str], str],
) -> tuple[dict[str, str], dict[str, str], dict[str, int]]:
    """Apply the batch's merges to ``mapping`` (distinct id -> person, updated in place).

    Returns the new mappings (distinct id -> person), the merged persons (old person ->
    surviving person) and the persons touched so far (person -> first timestamp seen).
    """
    new_mappings: dict[str, str] = {}
    merged_into: dict[str, str] = {}  # old person -> surviving person
    touched: dict[str, int] = {}  # person -> first timestamp seen in this batch
    merges = [change for change in changes if change.kind == "merge"]
    # Who already belongs to each person a merge may absorb: one query for the whole batch.
    stored_members = (
        person_queries.distinct_ids_of_persons(
            store, project_id=project_id, person_ids=sorted({resolve(change.other) for change in merges})
        )
        if merges
        else {}
    )
    members_of: dict[str, set[str]] = defaultdict(set)  # person -> distinct ids, as known in this batch
    for distinct_id, person in mapping.items():
        members_of[person].add(distinct_id)
    for person, members in stored_members.items():
        members_of[person] |= members
    for change in merges:
        survivor, absorbed = resolve(change.distinct_id), resolve(change.other)
        touched.setdefault(survivor, change.timestamp)
        if survivor == absorbed:
            continue
        if absorbed not in stored_members:  # became a person only through an earlier merge of this batch
            stored_members[absorbed] = person_queries.distinct_ids_of_persons(
                store, project_id=project_id, person_ids=[absorbed]
            ).get(absorbed, set())
            members_of[absorbed] |= stored_members[absorbed]
        moving = members_of.pop(absorbed, set()) | {change.other}
        for distinct_id in moving:
            mapping[distinct_id] = survivor
            new_mappings[distinct_id] = survivor
        members_of[survivor] |= moving
        if change.distinct_id not in mapping:
            mapping[change.distinct_id] = survivor
            new_mappings[change.distinct_id] = survivor
            members_of[survivor].add(change.distinct_id)
        merged_into[absorbed] = survivor
    return new_mappings, merged_into, touched


def _person_properties(
    store: EventStore,
    project_id: int,
    people: list[str],
    changes: list[_Change],
    touched: dict[str, int],
    merged_into: dict[str, str],
    resolve: Callable[[str], str],
) -> tuple[dict[str, dict[str, Any]], dict[str, int]]:
    """Each person's properties and creation time after the batch: the stored ones, what
    merged persons bring, then the batch's ``$set`` / ``$set_once`` in order."""
    current = person_queries.person_properties(store, project_id=project_id, person_ids=people)
    properties: dict[str, dict[str, Any]] = {person: dict(current.get(person, ({}, 0))[0]) for person in people}
    created: dict[str, int] = {
        person: min(filter(None, (current.get(person, ({}, 0))[1], touched.get(person))), default=0)
        for person in people
    }
    for absorbed, survivor in merged_into.items():
        for key, value in properties.get(absorbed, {}).items():
            properties[survivor].setdefault(key, value)
        if created.get(absorbed):
            created[survivor] = min(filter(None, (created[survivor], created[absorbed])))
    for change in changes:
        if change.kind == "merge":
            continue
        target = properties[resolve(change.distinct_id)]
        if change.kind == "set":
            target.update(change.values)
        else:
            for key, value in change.values.items():
                target.setdefault(key, value)
    return properties, created
