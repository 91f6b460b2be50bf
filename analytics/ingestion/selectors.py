"""Reads for ingestion: the project behind a write key and its event schemas.

The API reads both on every request, so each has a small process-local cache in front
of the shared one: a hit costs a dict lookup, not a thread hop or a network round trip.
Entries live briefly (``LOCAL_TTL_SECONDS``), so a rotated key or a changed schema
takes effect within about a second everywhere (at once in the process that made it).
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async

from analytics.accounts.selectors import IngestionProject, project_for_write_key
from analytics.core.db import close_stale_connections
from analytics.ingestion.models import EventSchema
from analytics.ingestion.schema_checks import CompiledSchema

PROJECT_TTL_SECONDS = 1.0
SCHEMA_TTL_SECONDS = 5.0
_MAX_LOCAL_ENTRIES = 10_000

_projects: dict[str, tuple[float, IngestionProject | None]] = {}
_schemas: dict[int, tuple[float, dict[str, CompiledSchema]]] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any, ttl: float) -> None:
    if len(cache) >= _MAX_LOCAL_ENTRIES:
        cache.clear()  # crude but bounded; the shared cache refills it
    cache[key] = (time.monotonic() + ttl, value)


def project_for_key(write_key: str) -> IngestionProject | None:
    """The project of a write key (sync; safe to call from threads and commands)."""
    entry = _projects.get(write_key)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    close_stale_connections()  # the fast path sends no request signals that would do it
    project = project_for_write_key(write_key)
    _remember(_projects, write_key, project, PROJECT_TTL_SECONDS)
    return project


async def aproject_for_key(write_key: str) -> IngestionProject | None:
    """The same for async views: a local hit never leaves the event loop."""
    entry = _projects.get(write_key)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    return await sync_to_async(project_for_key)(write_key)


def event_schemas_for_project(project_id: int) -> dict[str, CompiledSchema]:
    """Compiled schemas of a project by event name (sync)."""
    entry = _schemas.get(project_id)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    close_stale_connections()
    compiled = {
        schema.event_name: CompiledSchema.from_spec(schema.event_name, schema.properties)
        for schema in EventSchema.objects.filter(project_id=project_id).only("event_name", "properties")
    }
    _remember(_schemas, project_id, compiled, SCHEMA_TTL_SECONDS)
    return compiled


async def aevent_schemas_for_project(project_id: int) -> dict[str, CompiledSchema]:
    entry = _schemas.get(project_id)
    if entry is not None and entry[0] > time.monotonic():
        return entry[1]
    return await sync_to_async(event_schemas_for_project)(project_id)


def event_schemas_list(*, project_id: int) -> list[EventSchema]:
    return list(EventSchema.objects.filter(project_id=project_id).order_by("event_name"))


def forget_local(*, write_key: str | None = None, project_id: int | None = None) -> None:
    """Drop local cache entries (after a schema change or in tests)."""
    if write_key is not None:
        _projects.pop(write_key, None)
    if project_id is not None:
        _schemas.pop(project_id, None)
