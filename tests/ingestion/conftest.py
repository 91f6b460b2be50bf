"""Helpers for the ingestion tests: a project with a write key, posting, counting."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.test import Client

from analytics.warehouse.guard import Query
from tests.factories import member_with_project


@pytest.fixture
def owner_and_project(db: None, store: object) -> tuple[Any, Any]:
    return member_with_project()


@pytest.fixture
def project(owner_and_project: tuple[Any, Any]) -> Any:
    return owner_and_project[1]


@pytest.fixture
def post(client: Client) -> Callable[..., Any]:
    """POST raw bytes or a JSON-able body to a path (default: the native endpoint)."""

    def send(body: Any, *, key: str | None = None, path: str = "/api/v1/events", gzip_body: bool = False,
             headers: dict[str, str] | None = None, **extra: Any) -> Any:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        all_headers = dict(headers or {})
        if key:
            all_headers.setdefault("X-Api-Key", key)
        if gzip_body:
            data = gzip.compress(data)
            all_headers["Content-Encoding"] = "gzip"
        return client.post(path, data=data, content_type="application/json", headers=all_headers, **extra)

    return send


def stored(store: Any, project_id: int, sql_where: str = "", **params: Any) -> list[dict[str, Any]]:
    """The project's stored events (FINAL), oldest first."""
    sql = (
        "SELECT *, toUnixTimestamp64Milli(timestamp) AS ts_ms, toUnixTimestamp64Milli(received_at) AS received_ms,"
        " toString(event_id) AS event_id_text, toString(person_id) AS person_id_text"
        " FROM events FINAL WHERE project_id = {project_id:UInt64} " + sql_where + " ORDER BY timestamp, event_id"
    )
    return store.query(Query(name="test.stored", sql=sql, params={"project_id": project_id, **params})).dicts()


def event(name: str = "clicked", distinct_id: str = "user-1", **fields: Any) -> dict[str, Any]:
    return {"event": name, "distinct_id": distinct_id, **fields}
