"""Helpers for the ingestion tests: reading back what was stored, building events.

The ``project``, ``owner_and_project`` and ``post`` fixtures are in tests/conftest.py."""

from __future__ import annotations

from typing import Any

from analytics.warehouse.guard import Query


def stored(store: Any, project_id: int, sql_where: str = "", **params: Any) -> list[dict[str, Any]]:
    """The project's stored events, oldest first."""
    sql = (
        "SELECT *, toUnixTimestamp64Milli(timestamp) AS ts_ms, toUnixTimestamp64Milli(received_at) AS received_ms,"
        " toString(event_id) AS event_id_text, toString(person_id) AS person_id_text"
        " FROM events WHERE project_id = {project_id:UInt64} " + sql_where + " ORDER BY timestamp, event_id"
    )
    return store.query(Query(name="test.stored", sql=sql, params={"project_id": project_id, **params})).dicts()


def event(name: str = "clicked", distinct_id: str = "user-1", **fields: Any) -> dict[str, Any]:
    return {"event": name, "distinct_id": distinct_id, **fields}
