"""A per-project data version in the Django cache, changed whenever the project's stored data changes.

The query layer's result cache (``analytics.query.cache``) puts the version in every key,
so an answer computed before new events were stored is never served after them.

The version is an opaque token, not a counter: ``bump`` writes a fresh random token for
every project of a batch in one ``set_many`` (one round trip to Redis, no read), and a
reader that finds no token (never written, evicted, or Redis restarted) adds a fresh one.
A counter restarted from zero after an eviction could repeat a value an old cached answer
was stored under; a random token cannot.

Both calls swallow cache errors (logged): ingestion must not fail because Redis is away,
and a reader then gets a token no answer is stored under, so it computes afresh.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from django.core.cache import cache

from analytics.core.logging import get_logger

log = get_logger(__name__)

_PREFIX = "data-version:"


def _key(project_id: int) -> str:
    return f"{_PREFIX}{int(project_id)}"


def bump_data_versions(project_ids: Iterable[int]) -> None:
    """Mark the stored data of these projects as changed (one cache write for all of them)."""
    keys = {_key(project_id): secrets.token_hex(8) for project_id in set(project_ids)}
    if not keys:
        return
    try:
        cache.set_many(keys, timeout=None)
    except Exception as error:  # the cache must never fail a store write
        log.warning("data_version.bump_failed", error=repr(error), projects=len(keys))


def data_version(project_id: int) -> str:
    """The project's current data version (a fresh one if none is recorded)."""
    key = _key(project_id)
    try:
        version = cache.get(key)
        if version is None:
            cache.add(key, secrets.token_hex(8), timeout=None)
            version = cache.get(key)
    except Exception as error:  # a cache outage means "no cached answer", not an error
        log.warning("data_version.read_failed", error=repr(error))
        version = None
    return str(version) if version is not None else f"uncached-{secrets.token_hex(8)}"
