"""Helpers of the telecom tests: the provider's example message, reading stored actions."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from analytics.warehouse.guard import Query

EXAMPLE: dict[str, Any] = {
    "event_id": "550e8400-e29b-41d4-a716-446655440000",
    "source_id": "provider-1",
    "user_id": "123456789",
    "type": "CALL_OUT",
    "started_at": "2025-10-20T12:34:56Z",
    "ended_at": "2025-10-20T12:56:00Z",
    "duration_sec": 127,
    "bytes_up": 0,
    "bytes_down": 0,
    "meta": {"cell": "A1"},
}


def example(**changes: Any) -> dict[str, Any]:
    message = copy.deepcopy(EXAMPLE)
    for name, value in changes.items():
        if value is ...:
            message.pop(name, None)
        else:
            message[name] = value
    return message


def stored_actions(store: Any, project_id: int) -> list[dict[str, Any]]:
    sql = (
        "SELECT toString(event_id) AS event_id, source_id, event, distinct_id, properties, lib,"
        " toUnixTimestamp64Milli(timestamp) AS ts_ms FROM events WHERE project_id = {project_id:UInt64}"
        " ORDER BY timestamp, event_id, source_id"
    )
    return store.query(Query(name="test.telecom.stored", sql=sql, params={"project_id": project_id})).dicts()


@pytest.fixture
def old_project(project: Any) -> Any:
    """The member's project, keeping ten years (the example message is from 2025)."""
    project.retention_days = 3650
    project.save(update_fields=["retention_days"])
    return project
