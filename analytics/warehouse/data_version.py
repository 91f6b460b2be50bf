"""Per-project versions in the Django cache: tokens that change whenever what they cover changes.

- The **data version** changes whenever the project's stored data changes. The query
  layer's result cache (``analytics.query.cache``) puts it in every key, so an answer
  computed before new events were stored is never served after them.
- The **segments version** changes only when a segment's membership state changes (a
  version flip, a delete, a forget, a new definition): the segments app keys its cached
  segment lookups on it (``analytics.segments.lookup``). It is separate from the data
  version because ingestion bumps that once per stored batch, which would retire the
  lookups every second on a live project although no segment changed.

A version is an opaque token, not a counter: a bump writes a fresh random token for every
project of a batch in one ``set_many`` (one round trip to Redis, no read), and a reader
that finds no token (never written, evicted, or Redis restarted) adds a fresh one. A
counter restarted from zero after an eviction could repeat a value an old cached entry was
stored under; a random token cannot.

Every call swallows cache errors (logged): ingestion must not fail because Redis is away,
and a reader then gets a token nothing is stored under, so it computes afresh.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.core.cache import cache

from analytics.core.logging import get_logger

log = get_logger(__name__)

_PREFIX = "data-version:"
_SEGMENTS_PREFIX = "segments-version:"


def _key(project_id: int, prefix: str = _PREFIX) -> str:
    return f"{prefix}{int(project_id)}"


def _bump(keys: list[str]) -> None:
    tokens = {key: secrets.token_hex(8) for key in keys}
    if not tokens:
        return
    try:
        cache.set_many(tokens, timeout=None)
    except Exception as error:  # the cache must never fail a store write
        log.warning("data_version.bump_failed", error=repr(error), keys=len(tokens))


def _read(key: str) -> str:
    try:
        version = cache.get(key)
        if version is None:
            cache.add(key, secrets.token_hex(8), timeout=None)
            version = cache.get(key)
    except Exception as error:  # a cache outage means "nothing cached", not an error
        log.warning("data_version.read_failed", error=repr(error))
        version = None
    return str(version) if version is not None else f"uncached-{secrets.token_hex(8)}"


def bump_data_versions(project_ids: Iterable[int]) -> None:
    """Mark the stored data of these projects as changed (one cache write for all of them)."""
    _bump([_key(project_id) for project_id in set(project_ids)])


def bump_segment_versions(project_ids: Iterable[int]) -> None:
    """A segment's membership changed: both versions of these projects, in one cache write
    (cached answers may filter by the segment, and cached lookups name its version)."""
    projects = set(project_ids)
    _bump(
        [_key(project_id) for project_id in projects] + [_key(project_id, _SEGMENTS_PREFIX) for project_id in projects]
    )


def data_version(project_id: int) -> str:
    """The project's current data version (a fresh one if none is recorded)."""
    return _read(_key(project_id))


def segments_version(project_id: int) -> str:
    """The project's current segments version (a fresh one if none is recorded)."""
    return _read(_key(project_id, _SEGMENTS_PREFIX))
