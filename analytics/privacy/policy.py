"""The privacy rules ingestion applies to each request's rows (``ingestion/row_policy.py``).

:class:`IngestionPolicy` drops the events of suppressed distinct ids and drops or hashes
the chosen properties (top level and inside ``$set`` / ``$set_once``, which become person
properties). Some hot columns are filled from properties during validation, before the
policy runs; for those the column follows the property (dropped: emptied; hashed: the
column holds the hash too) — see :data:`HOT_COLUMNS`.

:class:`CachedPolicyProvider` keeps each project's policy in process memory. Every change
to privacy settings or the suppression list bumps a shared counter (the privacy generation,
in the Django cache: Redis in scale mode); a process re-reads it at most every
:data:`GENERATION_CHECK_SECONDS` and forgets its entries when it moved, and entries expire
after :data:`POLICY_TTL_SECONDS` anyway (an evicted counter). A project without rules is
cached as ``None``: its requests then cost one dict lookup and no per-event work.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from django.core.cache import cache

from analytics.ingestion.row_policy import MISS, Miss
from analytics.privacy.hashing import id_hash, salted_sha256, value_text

GENERATION_CACHE_KEY = "privacy-generation"
GENERATION_CHECK_SECONDS = 0.25
POLICY_TTL_SECONDS = 30.0
_MAX_ENTRIES = 10_000

# Property -> the event column validation fills from it.
HOT_COLUMNS = {
    "$current_url": "url",
    "url": "url",
    "$referrer": "referrer",
    "referrer": "referrer",
    "$session_id": "session_id",
    "$ip": "ip",
}
_PERSON_KEYS = ("$set", "$set_once")


@dataclass(frozen=True)
class IngestionPolicy:
    """One project's rules. ``suppressed`` holds id hashes under ``salt``."""

    salt: str
    suppressed: frozenset[str] = frozenset()
    drop: frozenset[str] = frozenset()
    hash: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.suppressed or self.drop or self.hash)

    def apply(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.suppressed:
            rows = [row for row in rows if id_hash(self.salt, row["distinct_id"]) not in self.suppressed]
        if self.drop or self.hash:
            for row in rows:
                self.anonymise(row)
        return rows

    def anonymise(self, row: dict[str, Any]) -> None:
        """Drop or hash the chosen properties of one event row, in place."""
        properties = orjson.loads(row["properties"] or "{}")
        changed = self._clean(properties)
        for key in _PERSON_KEYS:
            nested = properties.get(key)
            if isinstance(nested, dict):
                changed = self._clean(nested) or changed
        for key, column in HOT_COLUMNS.items():
            if key in self.drop and row.get(column):
                row[column] = ""
            elif key in self.hash and row.get(column):
                row[column] = salted_sha256(self.salt, str(row[column]))
        if changed:
            row["properties"] = orjson.dumps(properties).decode()

    def _clean(self, properties: dict[str, Any]) -> bool:
        changed = False
        for key in self.drop.intersection(properties):
            del properties[key]
            changed = True
        for key in self.hash.intersection(properties):
            if properties[key] is not None:
                properties[key] = salted_sha256(self.salt, value_text(properties[key]))
                changed = True
        return changed


def privacy_generation() -> int:
    value = cache.get(GENERATION_CACHE_KEY)
    return value if isinstance(value, int) else 0


def privacy_changed() -> None:
    """Tell every process that some project's rules changed (call after the commit).

    A missing counter (never set, evicted) starts at the current time in milliseconds, not
    0, so a value some process saw before the loss does not come back.
    """
    cache.add(GENERATION_CACHE_KEY, time.time_ns() // 1_000_000, timeout=None)
    try:
        cache.incr(GENERATION_CACHE_KEY)
    except ValueError:  # evicted between the two calls
        cache.set(GENERATION_CACHE_KEY, time.time_ns() // 1_000_000, None)
    PROVIDER.forget()


class CachedPolicyProvider:
    """Per-process cache of :class:`IngestionPolicy` by project, invalidated by generation."""

    def __init__(self) -> None:
        # project -> (expiry, generation it was read under, policy)
        self._entries: dict[int, tuple[float, int, IngestionPolicy | None]] = {}
        self._generation = 0
        self._next_check = 0.0
        self._lock = threading.Lock()

    def forget(self) -> None:
        with self._lock:
            self._entries.clear()
            self._next_check = 0.0

    def cached(self, project_id: int) -> IngestionPolicy | Miss | None:
        now = time.monotonic()
        if now >= self._next_check:
            return MISS  # the generation must be re-read, which is I/O
        entry = self._entries.get(project_id)
        # An entry read under an older generation (stored after the check) never hits.
        if entry is None or entry[0] <= now or entry[1] != self._generation:
            return MISS
        return entry[2]

    def load(self, project_id: int) -> IngestionPolicy | None:
        from analytics.privacy.selectors import ingestion_policy_read  # noqa: PLC0415 - models load late

        now = time.monotonic()
        if now >= self._next_check:
            generation = privacy_generation()
            with self._lock:
                if generation != self._generation:
                    self._entries.clear()
                self._generation = generation
                self._next_check = now + GENERATION_CHECK_SECONDS
        generation = self._generation
        entry = self._entries.get(project_id)
        if entry is not None and entry[0] > now and entry[1] == generation:
            return entry[2]
        policy = ingestion_policy_read(project_id)
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[project_id] = (now + POLICY_TTL_SECONDS, generation, policy)
        return policy


PROVIDER = CachedPolicyProvider()
