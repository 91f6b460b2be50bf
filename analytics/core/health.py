"""Liveness and readiness probes.

``/healthz`` answers 200 while the process serves. ``/readyz`` checks each dependency
(database, event store, cache, bus) with a short timeout and answers 503 if any fails.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def liveness(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_store() -> None:
    from analytics.warehouse.store import get_store

    get_store().ping()


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


def _check_bus() -> None:
    from analytics.ingestion.bus import get_event_bus

    get_event_bus().check_health()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "event_store": _check_store,
    "cache": _check_cache,
    "bus": _check_bus,
}


@require_GET
@never_cache
def readiness(request: HttpRequest) -> JsonResponse:
    results: dict[str, dict[str, object]] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"status": "ok"}
        except Exception as error:  # a probe reports every failure; it must never raise
            healthy = False
            results[name] = {"status": "error", "error": f"{type(error).__name__}: {str(error)[:200]}"}
        results[name]["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return JsonResponse({"status": "ok" if healthy else "error", "checks": results}, status=200 if healthy else 503)
