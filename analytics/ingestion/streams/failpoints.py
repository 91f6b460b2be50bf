"""Fault-injection points for the fault tests (``tests/pipeline``).

A failpoint does nothing unless its name is listed in ``ANALYTICS_FAILPOINTS`` (comma
separated, read once at import), so production pays one set lookup. Names:

- ``kill_after_insert``: SIGKILL this process after a batch is stored, before its offsets
  are committed (the crash that the de-duplication token must make harmless).
- ``sleep_before_insert=<seconds>``: hold each batch write that long before the insert,
  so a test can deliver SIGTERM while a batch is in flight.
- ``skip_fetched_offsets=<n>``: once, ``n`` messages of a partition are left out of what
  a fetch returned, as Tansu's answer at the log end does when it skips a batch still
  being written (see ``StreamConsumer._take_contiguous``).

In-process tests switch them with :func:`enable` and :func:`disable`.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

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


def enable(name: str, value: str = "") -> None:
    """Switch a failpoint on in this process (in-process tests)."""
    _ACTIVE[name] = value


def disable(name: str) -> None:
    _ACTIVE.pop(name, None)


def skip_fetched_offsets(by_partition: dict[int, list[Any]]) -> None:
    """The ``skip_fetched_offsets`` fault (once): ``n`` messages in the middle of one
    partition's fetched messages are never returned, as when Tansu's answer at the log end
    skips a batch still being written; the client's position is already past them."""
    value = _ACTIVE.get("skip_fetched_offsets")
    if value is None:
        return
    count = int(value or "10")
    for partition in sorted(by_partition):
        bucket = by_partition[partition]
        if len(bucket) > count + 2:
            _ACTIVE.pop("skip_fetched_offsets", None)
            log.warning("failpoint.skip_fetched_offsets", partition=partition,
                        first_skipped=int(bucket[1].offset()), skipped=count)
            del bucket[1:1 + count]
            return
