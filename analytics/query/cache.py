"""The result cache of query answers (Django cache: Redis in scale mode, local memory in embedded).

An answer is stored under a key hashed (SHA-256) from:

- the report kind (``trends``, ``lifecycle``, ...);
- the query JSON as the client sent it, normalised: keys sorted at every level, the
  ``refresh`` flag left out (so ``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` share an entry);
- the project id and its time zone (relative dates and buckets depend on it);
- the project's data version (``analytics.warehouse.data_version``), which ingestion
  changes once per stored batch per project: an answer computed before new events were
  stored is never served after them.

``QUERY_CACHE_TTL_SECONDS`` bounds an entry's life (0 turns the cache off). With relative
dates (``-7d``, no ``to``) and no new events, an answer may be served for up to that long
while its window slides; ``computed_at`` says when it was computed.

``refresh=True`` skips the lookup, computes, and rewrites the entry. Every answer carries
``"cached": bool`` and ``"computed_at"`` (ISO 8601, UTC). A cache outage is not an error:
the answer is computed and not stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import cache

from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from analytics.warehouse.data_version import data_version

log = get_logger(__name__)

_PREFIX = "query-result:"
REFRESH_FIELD = "refresh"
_TRUE = frozenset({"1", "true", "yes", "on"})


def wants_refresh(query_params: Mapping[str, Any], body: Any) -> bool:
    """``?refresh=true`` or a body field ``"refresh": true``."""
    if str(query_params.get(REFRESH_FIELD, "")).strip().lower() in _TRUE:
        return True
    return isinstance(body, Mapping) and body.get(REFRESH_FIELD) is True


def without_refresh(body: Any) -> Any:
    """The query JSON without the ``refresh`` flag (which is not part of the query)."""
    if isinstance(body, Mapping):
        return {key: value for key, value in body.items() if key != REFRESH_FIELD}
    return body


def project_rules(project: Any) -> list[Any]:
    """Project settings besides the time zone that change answers without new events: the
    session rules (``compiler/sessions.py``)."""
    return [project.session_timeout_minutes, project.session_split_at_midnight]


def cache_key(*, kind: str, query_json: Any, project_id: int, time_zone: str, version: str, rules: Any = None) -> str:
    document = {"kind": kind, "query": without_refresh(query_json), "project": project_id, "tz": time_zone}
    if rules is not None:
        document["rules"] = rules
    # OPT_SORT_KEYS sorts nested objects too; the version goes in last so the prefix is stable.
    try:
        text = orjson.dumps(document, default=str, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # e.g. an integer beyond 64 bits in a field the query ignores
        text = json.dumps(document, default=str, sort_keys=True).encode()
    digest = hashlib.sha256(text).hexdigest()
    return f"{_PREFIX}{digest}:{version}"


def _get(key: str) -> dict[str, Any] | None:
    try:
        value = cache.get(key)
    except Exception as error:  # an unreachable cache means "not cached"
        log.warning("query_cache.get_failed", error=repr(error))
        return None
    return value if isinstance(value, dict) else None


def _set(key: str, answer: dict[str, Any], ttl: int) -> None:
    try:
        cache.set(key, answer, timeout=ttl)
    except Exception as error:  # the answer is still returned
        log.warning("query_cache.set_failed", error=repr(error))


def cached_answer(
    *,
    kind: str,
    query_json: Any,
    project_id: int,
    time_zone: str,
    compute: Callable[[], dict[str, Any]],
    refresh: bool = False,
    rules: Any = None,
) -> dict[str, Any]:
    """The answer from the cache, or ``compute()`` stored there; with ``cached`` and ``computed_at``."""
    ttl = int(settings.QUERY_CACHE_TTL_SECONDS)
    if ttl <= 0:
        return _fresh(compute)
    version = data_version(project_id)
    key = cache_key(
        kind=kind, query_json=query_json, project_id=project_id, time_zone=time_zone, version=version, rules=rules
    )
    if not refresh:
        hit = _get(key)
        if hit is not None:
            return {**hit, "cached": True}
    answer = _fresh(compute)
    _set(key, {**answer, "cached": True}, ttl)
    return answer


def _fresh(compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    answer = {**compute(), "cached": False}
    if not isinstance(answer.get("computed_at"), str):
        answer["computed_at"] = utc_now().isoformat()
    return answer
