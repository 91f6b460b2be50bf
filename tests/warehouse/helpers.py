"""Event rows for the store tests: every test uses its own project ids, so the one
chDB store of the session can be shared without tests seeing each other's rows."""

from __future__ import annotations

import itertools
import os
import uuid
from datetime import UTC, datetime
from typing import Any

from analytics.warehouse.guard import Query

# Far above the ids the Django test database hands out; unique per process and call.
_PROJECT_IDS = itertools.count(10_000_000 + (os.getpid() % 10_000) * 1_000)
BASE_MS = int(datetime(2026, 3, 14, 12, 0, tzinfo=UTC).timestamp()) * 1000


def new_project_id() -> int:
    return next(_PROJECT_IDS)


def event_row(project_id: int, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "project_id": project_id,
        "event_id": str(uuid.uuid4()),
        "event": "pageview",
        "distinct_id": "user-1",
        "person_id": str(uuid.uuid4()),
        "timestamp": BASE_MS,
        "received_at": BASE_MS + 5,
    }
    row.update(overrides)
    return row


def count_events(store: Any, project_id: int) -> int:
    """Stored rows of the project (events is a plain MergeTree: every row is an event)."""
    return int(
        store.query(
            Query(
                name="test.count",
                sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}",
                params={"project_id": project_id},
            )
        ).scalar()
    )
