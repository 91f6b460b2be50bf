"""``network_actions`` (migration 0011): each stored action of the five types once, with the
measures ``JSONExtract`` gives at read time; nothing else. It follows deletions (forget,
retention) and its backfill adds only what it lacks."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import orjson

from analytics.core.timeutils import utc_now
from analytics.warehouse import services
from analytics.warehouse.guard import Query
from analytics.warehouse.migrator import MigrationContext
from analytics.warehouse.schema import events_to_arrow
from analytics.warehouse.store import EventStore
from tests.warehouse.helpers import count_events, event_row, new_project_id

MEASURES = "Tuple(duration_sec Nullable(Float64), bytes_up Nullable(Int64), bytes_down Nullable(Int64))"

PROPERTIES = [
    {"started_at": "x", "duration_sec": 127, "bytes_up": 0, "bytes_down": 0, "meta": {"cell": "A1"}},
    {"started_at": "x", "duration_sec": 12.25, "bytes_up": 100, "bytes_down": 2000},
    {"started_at": "x", "meta": {"duration_sec": 999, "bytes_up": 5, "bytes_down": 7}},
    {"meta": {"nested": {"duration_sec": 3}}, "duration_sec": 0.5},
    {"duration_sec": "42", "bytes_up": "7", "bytes_down": "x"},
    {"duration_sec": None, "bytes_up": True, "bytes_down": 1.5},
    {"duration_sec": [1, 2], "bytes_up": {"a": 1}, "bytes_down": 2**62},
    {"d\u00fcration_sec": 1, "duration_sec\u00e9": 2, "bytes_up ": 3},
    {},
]


def _rows(store: EventStore, project_id: int, sql: str) -> list[dict[str, Any]]:
    return store.query(Query(name="test.network_actions", sql=sql, params={"project_id": project_id})).dicts()


def _stored_ids(store: EventStore, project_id: int) -> list[str]:
    sql = "SELECT toString(event_id) AS id FROM network_actions WHERE project_id = {project_id:UInt64} ORDER BY id"
    return [row["id"] for row in _rows(store, project_id, sql)]


def _delete(store: EventStore, project_id: int, table: str, event: str) -> None:
    """Delete a project's rows of one type from one table only (waits until done)."""
    sql = f"ALTER TABLE {table} DELETE WHERE project_id = {{project_id:UInt64}} AND event = {{event:String}}"
    params = {"project_id": project_id, "event": event}
    store.execute(Query(name="test.delete", sql=sql, params=params, settings={"mutations_sync": 2}))


def test_each_action_is_copied_once_with_the_read_time_measures(store: EventStore) -> None:
    project_id = new_project_id()
    rows = [
        event_row(project_id, event=kind, properties=orjson.dumps(properties).decode())
        for kind in ("CALL_OUT", "DATA", "SMS_SENT", "pageview")
        for properties in PROPERTIES
    ]
    # Text the native endpoint could store as sent: spaces and escaped key names.
    raw = ['{ "duration_sec" : 5 , "bytes_up":1}', '{"\\u0064uration_sec": 6, "bytes_\\u0075p": 2}', "not json"]
    rows += [event_row(project_id, event="DATA", properties=text) for text in raw]
    assert store.insert_events(rows, dedup_token=f"measures-{project_id}") == len(rows)

    stored = _rows(
        store,
        project_id,
        "SELECT toString(event_id) AS id, event, properties, toString((duration_sec, bytes_up, bytes_down)) AS stored, "
        f"toString(JSONExtract(properties, '{MEASURES}')) AS extracted, duration_sec, distinct_id, source_id "
        "FROM network_actions WHERE project_id = {project_id:UInt64}",
    )
    actions = [row for row in rows if row["event"] != "pageview"]
    assert sorted(row["id"] for row in stored) == sorted(row["event_id"] for row in actions)
    for row in stored:
        assert row["stored"] == row["extracted"], row
    durations = {(row["event"], row["properties"]): row["duration_sec"] for row in stored}
    # A few spelled out: top level only, the same keys escaped.
    assert durations[("DATA", orjson.dumps(PROPERTIES[1]).decode())] == 12.25
    assert durations[("CALL_OUT", orjson.dumps(PROPERTIES[2]).decode())] is None
    assert durations[("SMS_SENT", orjson.dumps(PROPERTIES[3]).decode())] == 0.5
    assert durations[("DATA", raw[0])] == 5
    assert durations[("DATA", raw[1])] == 6


def test_a_block_retried_with_its_token_is_copied_once(store: EventStore) -> None:
    """A retry resends the block with the same settings and token, past the write-time check
    (``store._insert_event_part``): ``events`` drops it and so must the view's table."""
    project_id = new_project_id()
    rows = [event_row(project_id, event="CALL_IN", distinct_id=f"u{index}") for index in range(3)]
    block = events_to_arrow(rows)
    settings = {**store.insert_settings(f"retry-{project_id}"), **store.event_insert_settings()}
    for _ in range(2):
        store.transport.insert_arrow("events", block, settings)

    assert count_events(store, project_id) == 3
    assert _stored_ids(store, project_id) == sorted(row["event_id"] for row in rows)


def test_forget_rebuild_leaves_the_remaining_actions_once(store: EventStore) -> None:
    project_id = new_project_id()
    gone = [
        event_row(project_id, event="CALL_IN", distinct_id="gone", properties='{"duration_sec": 3}') for _ in range(3)
    ]
    kept = [event_row(project_id, event="DATA", distinct_id="kept", properties='{"bytes_up": 4}') for _ in range(2)]
    # One of "gone"'s actions stays in events (as if it belonged to another person) and must
    # be found again by the refill.
    survivor = event_row(project_id, event="SMS_SENT", distinct_id="gone", properties="{}")
    store.insert_events([*gone, *kept, survivor], dedup_token=f"forget-{project_id}")
    _delete(store, project_id, "events", "CALL_IN")

    services.network_action_tables_rebuild(project_id=project_id, distinct_ids=["gone"], store=store)
    services.network_action_tables_rebuild(project_id=project_id, distinct_ids=["gone"], store=store)  # idempotent

    assert _stored_ids(store, project_id) == sorted(row["event_id"] for row in [*kept, survivor])


def test_a_shrunk_retention_deletes_the_same_actions(store: EventStore) -> None:
    project_id = new_project_id()
    now = utc_now()
    old, recent = (
        event_row(project_id, event="CALL_OUT", timestamp=now - timedelta(days=days), retention_days=365)
        for days in (100, 3)
    )
    store.insert_events([old, recent], dedup_token=f"retention-{project_id}")

    services.events_retention_enforce(project_id=project_id, retention_days=30, wait=True, store=store)

    assert _stored_ids(store, project_id) == [recent["event_id"]]


def test_the_backfill_adds_what_the_table_lacks_and_nothing_twice(store: EventStore) -> None:
    project_id = new_project_id()
    rows = [
        event_row(project_id, event=kind, distinct_id=f"u{index}") for index, kind in enumerate(("CALL_OUT", "DATA"))
    ]
    rows.append(event_row(project_id, event="pageview"))
    store.insert_events(rows, dedup_token=f"backfill-{project_id}")
    # As before the migration: the table does not hold the first action.
    _delete(store, project_id, "network_actions", "CALL_OUT")
    assert _stored_ids(store, project_id) == [rows[1]["event_id"]]
    migration = importlib.import_module("analytics.warehouse.clickhouse_migrations.0011_network_actions")
    (backfill,) = [
        sql
        for sql in migration.statements(MigrationContext(store.transport.database, None))
        if sql.startswith("INSERT")
    ]

    for _ in range(2):
        store.command(backfill)

    assert _stored_ids(store, project_id) == sorted(row["event_id"] for row in rows[:2])
