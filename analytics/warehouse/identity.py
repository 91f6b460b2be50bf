"""Deterministic ids: event ids for de-duplication and person ids for distinct ids.

Both are UUIDs derived by hashing, so every process (API, Kafka consumer, demo loader)
computes the same id for the same input without asking any store.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from functools import lru_cache

# Fixed namespaces: changing them would give every resent event a new id.
EVENT_NAMESPACE = uuid.UUID("6f1e1c64-3c2b-5b0e-9a4e-0c8f2d7a9b10")
PERSON_NAMESPACE = uuid.UUID("0b7a3f52-8d5e-5c41-8f0e-5a9d2c3e4f60")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _uuid5(namespace: uuid.UUID, name: bytes) -> str:
    # uuid.uuid5 without the str round trip: the same bytes, the same RFC 4122 version 5 id.
    digest = hashlib.sha1(namespace.bytes + name, usedforsecurity=False).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


@lru_cache(maxsize=65536)
def person_id_for(project_id: int, distinct_id: str) -> str:
    """The person a distinct id belongs to until identify/alias merges it into another."""
    return _uuid5(PERSON_NAMESPACE, f"{project_id}\x1f{distinct_id}".encode("utf-8", "surrogatepass"))


def event_id_from_client(project_id: int, client_id: str) -> str:
    """A client's event id: a UUID is kept (canonical form); anything else maps to a UUID5
    within the project, so the same client id always names the same event."""
    if len(client_id) == 36 and _CANONICAL_UUID.fullmatch(client_id):
        return client_id  # the common case, without a parse and a format
    if len(client_id) == 36 or len(client_id) == 32:
        try:
            return str(uuid.UUID(client_id))
        except ValueError:
            pass
    return _uuid5(EVENT_NAMESPACE, f"{project_id}\x1fid\x1f{client_id}".encode("utf-8", "surrogatepass"))


def event_id_from_content(
    project_id: int, source_id: str, event: str, distinct_id: str, timestamp: str, properties_json: bytes
) -> str:
    """An id for an event sent without one: the same payload from the same source is the
    same event, so a resent batch is still recognised. ``timestamp`` is the client's raw
    value (not the skew-corrected one), which does not change between retries."""
    name = b"\x1f".join(
        (
            str(project_id).encode(),
            source_id.encode("utf-8", "surrogatepass"),
            event.encode("utf-8", "surrogatepass"),
            distinct_id.encode("utf-8", "surrogatepass"),
            timestamp.encode("utf-8", "surrogatepass"),
            properties_json,
        )
    )
    return _uuid5(EVENT_NAMESPACE, name)
