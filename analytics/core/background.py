"""Background services of the embedded all-in-one process (`manage.py serve`).

Each service is a daemon thread started before the web server and stopped after it.
Apps register theirs in :data:`SERVICES` (aggregation registers the in-process beat).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from analytics.core.logging import get_logger

log = get_logger(__name__)


@dataclass
class BackgroundService:
    name: str
    # Called in its own thread with a stop event; must return soon after the event is set.
    run: Callable[[threading.Event], None]


SERVICES: list[BackgroundService] = []
_stop = threading.Event()
_threads: list[threading.Thread] = []


def register(service: BackgroundService) -> None:
    """Add a service started by ``manage.py serve`` (once per name)."""
    if all(existing.name != service.name for existing in SERVICES):
        SERVICES.append(service)


def start_background_services() -> None:
    """Start every registered service in its own daemon thread."""
    _stop.clear()
    for service in SERVICES:
        thread = threading.Thread(target=_guarded(service), name=service.name, daemon=True)
        thread.start()
        _threads.append(thread)
        log.info("background.started", service=service.name)


def stop_background_services(timeout: float = 10.0) -> None:
    """Ask every service to stop and wait up to ``timeout`` seconds for each."""
    _stop.set()
    for thread in _threads:
        thread.join(timeout=timeout)
    _threads.clear()


def _guarded(service: BackgroundService) -> Callable[[], None]:
    def run() -> None:
        try:
            service.run(_stop)
        except Exception:
            log.exception("background.crashed", service=service.name)

    return run
