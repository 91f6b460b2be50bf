"""Fault-injection points for the fault tests (``tests/pipeline``).

A failpoint does nothing unless its name is listed in ``ANALYTICS_FAILPOINTS`` (comma
separated, read once at import), so production pays one set lookup. Names:

- ``kill_after_insert``: SIGKILL this process after a batch is stored, before its offsets
  are committed (the crash that the de-duplication token must make harmless).
- ``sleep_before_insert=<seconds>``: hold each batch write that long before the insert,
  so a test can deliver SIGTERM while a batch is in flight.
"""

from __future__ import annotations

import os
import signal
import time

from analytics.core.logging import get_logger

log = get_logger(__name__)


def _parse(raw: str) -> dict[str, str]:
    points: dict[str, str] = {}
    for item in raw.split(","):
        name, _, value = item.strip().partition("=")
        if name:
            points[name] = value
    return points


_ACTIVE = _parse(os.environ.get("ANALYTICS_FAILPOINTS", ""))


def failpoint(name: str) -> None:
    """Trigger the named fault if it is enabled for this process."""
    if name not in _ACTIVE:
        return
    if name == "kill_after_insert":
        log.warning("failpoint.kill", failpoint=name)
        os.kill(os.getpid(), signal.SIGKILL)
    elif name == "sleep_before_insert":
        seconds = float(_ACTIVE[name] or "1")
        log.warning("failpoint.sleep", failpoint=name, seconds=seconds)
        time.sleep(seconds)
