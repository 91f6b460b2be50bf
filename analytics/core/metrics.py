"""Prometheus metrics of the platform itself (each app keeps its own next to its code).

django-prometheus already exports request counts and latencies per view; these add what
an operator needs to read the rest: which build and mode is running, and the outcome of
each readiness check.
"""

from __future__ import annotations

from importlib import metadata

from django.conf import settings
from prometheus_client import Gauge, Histogram, Info

BUILD_INFO = Info("analytics_build", "Version, mode and profile of the running process.")
DEPENDENCY_UP = Gauge(
    "analytics_dependency_up", "1 when the last readiness check of the dependency passed, else 0.", ["dependency"]
)
DEPENDENCY_CHECK_SECONDS = Histogram(
    "analytics_dependency_check_duration_seconds",
    "Time taken by one readiness check.",
    ["dependency"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def publish_build_info() -> None:
    """Export version, mode and profile as ``analytics_build_info``."""
    try:
        version = metadata.version("analytics")
    except metadata.PackageNotFoundError:
        version = "0.1.0"
    BUILD_INFO.info({"version": version, "mode": settings.ANALYTICS_MODE, "profile": settings.ANALYTICS_PROFILE})
