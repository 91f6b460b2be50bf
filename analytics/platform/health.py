"""Liveness and readiness probes, and the metrics scrape.

``/healthz`` answers 200 while the process serves. ``/readyz`` checks each dependency
(database, event store, cache, bus) with a short timeout and answers 503 if any fails.
``/metrics`` is the Prometheus exposition; series labelled with a project id (``project``)
would list the installation's projects to anyone, so without ``METRICS_TOKEN`` they are left
out unless ``METRICS_PROJECT_LABELS`` is on.
"""

from __future__ import annotations

import hmac
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import prometheus_client
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess

from analytics.core.logging import get_logger, redact_text
from analytics.core.metrics import DEPENDENCY_CHECK_SECONDS, DEPENDENCY_UP
from analytics.streams.bus import get_event_bus
from analytics.warehouse.store import get_store

log = get_logger(__name__)


@require_GET
@never_cache
def liveness(request: HttpRequest) -> JsonResponse:
    """200 while the process can answer; checks nothing else (restarts are for hangs)."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_store() -> None:
    get_store().ping()


def _check_cache() -> None:
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return the value just written")
    cache.delete(key)


def _check_bus() -> None:
    get_event_bus().check_health()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "event_store": _check_store,
    "cache": _check_cache,
    "bus": _check_bus,
}


def run_checks() -> tuple[bool, dict[str, dict[str, object]]]:
    """Run every readiness check; returns (all ok, one entry per dependency)."""
    results: dict[str, dict[str, object]] = {}
    healthy = True
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            results[name] = {"status": "ok"}
            DEPENDENCY_UP.labels(name).set(1)
        except Exception as error:  # a probe reports every failure; it must never raise
            healthy = False
            results[name] = {"status": "error", "error": redact_text(f"{type(error).__name__}: {str(error)[:200]}")}
            DEPENDENCY_UP.labels(name).set(0)
            log.warning("health.check.failed", dependency=name, error=results[name]["error"])
        elapsed = time.perf_counter() - started
        DEPENDENCY_CHECK_SECONDS.labels(name).observe(elapsed)
        results[name]["duration_ms"] = round(elapsed * 1000, 1)
    return healthy, results


@require_GET
@never_cache
def readiness(request: HttpRequest) -> JsonResponse:
    """200 when every dependency answers, else 503; one entry per dependency either way."""
    healthy, results = run_checks()
    return JsonResponse({"status": "ok" if healthy else "error", "checks": results}, status=200 if healthy else 503)


@require_GET
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition; with ``METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
            response = JsonResponse(
                {"error": {"code": "not_authenticated", "message": "metrics need the token"}}, status=401
            )
            response["WWW-Authenticate"] = "Bearer"
            return response
    registry: Any = _registry()
    if not token and not settings.METRICS_PROJECT_LABELS:
        registry = _WithoutLabel(registry, PROJECT_LABEL)
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)


PROJECT_LABEL = "project"


def _registry() -> prometheus_client.CollectorRegistry:
    """This process's registry, or every worker's when prometheus_client runs multi-process (as django-prometheus)."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ or "prometheus_multiproc_dir" in os.environ:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


class _WithoutLabel:
    """A registry view whose metric families drop every sample carrying ``label``."""

    def __init__(self, registry: Any, label: str) -> None:
        self.registry = registry
        self.label = label

    def collect(self) -> Iterator[Any]:
        for family in self.registry.collect():
            family.samples = [sample for sample in family.samples if self.label not in sample.labels]
            yield family
