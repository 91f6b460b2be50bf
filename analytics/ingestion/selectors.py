"""Reads for ingestion: the project behind a write key and its event schemas.

The API reads both on every request, so each has a small process-local cache in front
of the shared one: a hit costs a dict lookup, not a thread hop or a network round trip.
Entries live briefly (``PROJECT_TTL_SECONDS``, ``SCHEMA_TTL_SECONDS``); a changed schema
takes effect within a few seconds everywhere (at once in the process that made it).

A rotated write key stops working at once everywhere. Every write-key change bumps a shared
counter, the write-key generation (``accounts.services.write_keys_changed``; in the Django
cache: Redis in scale mode, local memory in embedded mode's one process). A process re-reads
it at most every ``WRITE_KEY_GENERATION_CHECK_SECONDS`` and drops its write-key entries when
it moved; the rotation returns only after that interval, so once it has answered no process
still accepts the old key. Why not read the counter on every request: that is a Redis round
trip per request in scale mode, as dear as the lookup the local cache saves. The hot path
stays a dict lookup and a clock comparison, plus at most four cache GETs a second per
process (measured: tests/ingestion/test_write_key_rotation.py).
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async

from analytics.accounts.keys import WRITE_KEY_GENERATION_CHECK_SECONDS
from analytics.accounts.selectors import IngestionProject, project_for_write_key, write_key_generation
from analytics.core.db import close_stale_connections
from analytics.ingestion.models import EventSchema
from analytics.ingestion.schema_checks import CompiledSchema

PROJECT_TTL_SECONDS = 1.0
SCHEMA_TTL_SECONDS = 5.0
_MAX_LOCAL_ENTRIES = 10_000

# write key -> (expiry, generation it was read under, project)
_projects: dict[str, tuple[float, int, IngestionProject | None]] = {}
_schemas: dict[int, tuple[float, dict[str, CompiledSchema]]] = {}
# The generation seen and the monotonic time of its next check.
_generation = [0, 0.0]


def _remember(cache: dict[Any, Any], key: Any, value: Any, ttl: float) -> None:
    if len(cache) >= _MAX_LOCAL_ENTRIES:
        cache.clear()  # crude but bounded; the shared cache refills it
    cache[key] = (time.monotonic() + ttl, value)


def _remember_project(write_key: str, generation: int, project: IngestionProject | None) -> None:
    if len(_projects) >= _MAX_LOCAL_ENTRIES:
        _projects.clear()
    _projects[write_key] = (time.monotonic() + PROJECT_TTL_SECONDS, generation, project)


def _current_generation(now: float) -> int:
    """The write-key generation, re-read from the shared cache when its check is due."""
    if now < _generation[1]:
        return int(_generation[0])
    generation = write_key_generation()
    if generation != _generation[0]:
        _projects.clear()  # memory only: entries of another generation never hit anyway
    _generation[0] = generation
    _generation[1] = now + WRITE_KEY_GENERATION_CHECK_SECONDS
    return generation


def project_for_key(write_key: str) -> IngestionProject | None:
    """The project of a write key (sync; safe to call from threads and commands)."""
    now = time.monotonic()
    generation = _current_generation(now)
    entry = _projects.get(write_key)
    # An entry read under an older generation (even one stored after the check) never hits.
    if entry is not None and entry[0] > now and entry[1] == generation:
        return entry[2]
    close_stale_connections()  # the fast path sends no request signals that would do it
    project = project_for_write_key(write_key, generation=generation)
    _remember_project(write_key, generation, project)
    return project


async def aproject_for_key(write_key: str) -> IngestionProject | None:
    """The same for async views: a local hit never leaves the event loop."""
    now = time.monotonic()
    entry = _projects.get(write_key)
    if entry is not None and entry[0] > now and now < _generation[1] and entry[1] == _generation[0]:
        return entry[2]
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
        _generation[1] = 0.0  # and re-read the generation
    if project_id is not None:
        _schemas.pop(project_id, None)
