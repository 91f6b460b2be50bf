"""Fault injection for the fault tests (``tests/streams``), installed at the stream pipeline's
fault points (``analytics/streams/faults.py``).

Nothing happens unless a fault is listed in ``ANALYTICS_FAILPOINTS`` (comma separated,
read when the app starts) or switched on in-process with :func:`enable`. Faults:

- ``kill_after_insert``: SIGKILL this process after a batch is stored, before its offsets
  are committed (the crash that the de-duplication token must make harmless).
- ``sleep_before_insert=<seconds>``: hold each batch write that long before the insert,
  so a test can deliver SIGTERM while a batch is in flight.
- ``skip_fetched_offsets=<n>``: once, ``n`` messages of a partition are left out of what
  a fetch returned, as Tansu's answer at the log end does when it skips a batch still
  being written (see ``StreamConsumer._take_contiguous``).
- ``skip_first_fetched=<n>``: once, the first ``n`` messages of a partition's fetch are
  left out: the same skip where a new group starts reading (the log's start).
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from analytics.core.logging import get_logger
from analytics.streams import faults

log = get_logger(__name__)

_ACTIVE: dict[str, str] = {}


def _parse(raw: str) -> dict[str, str]:
    points: dict[str, str] = {}
    for item in raw.split(","):
        name, _, value = item.strip().partition("=")
        if name:
            points[name] = value
    return points


def _kill_after_insert(*_: Any) -> None:
    if "kill_after_insert" in _ACTIVE:
        log.warning("failpoint.kill", failpoint="kill_after_insert")
        os.kill(os.getpid(), signal.SIGKILL)


def _sleep_before_insert(*_: Any) -> None:
    if "sleep_before_insert" in _ACTIVE:
        seconds = float(_ACTIVE["sleep_before_insert"] or "1")
        log.warning("failpoint.sleep", failpoint="sleep_before_insert", seconds=seconds)
        time.sleep(seconds)


def _skip(name: str, by_partition: dict[int, list[Any]], *, first: int) -> None:
    """Once: ``n`` (the fault's value) messages of one partition's fetched messages, from
    position ``first``, are never returned; the client's position is already past them."""
    value = _ACTIVE.get(name)
    if value is None:
        return
    count = int(value or "10")
    for partition in sorted(by_partition):
        bucket = by_partition[partition]
        if len(bucket) > first + count + 1:
            _ACTIVE.pop(name, None)
            log.warning(
                f"failpoint.{name}", partition=partition, first_skipped=int(bucket[first].offset()), skipped=count
            )
            del bucket[first : first + count]
            return


def _skip_fetched_offsets(by_partition: dict[int, list[Any]]) -> None:
    """In the middle of a fetch, as when Tansu's answer at the log end skips a batch still being written."""
    _skip("skip_fetched_offsets", by_partition, first=1)


def _skip_first_fetched(by_partition: dict[int, list[Any]]) -> None:
    """At the start of a fetch (the log's start, when a test starts the consumer on a filled topic)."""
    _skip("skip_first_fetched", by_partition, first=0)


_POINT_OF = {
    "kill_after_insert": ("after_insert", _kill_after_insert),
    "sleep_before_insert": ("before_insert", _sleep_before_insert),
    "skip_fetched_offsets": ("fetched", _skip_fetched_offsets),
    "skip_first_fetched": ("fetched", _skip_first_fetched),
}


def enable(name: str, value: str = "") -> None:
    """Switch a fault on in this process."""
    if name not in _POINT_OF:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(_POINT_OF))}")
    point, handler = _POINT_OF[name]
    _ACTIVE[name] = value
    faults.install(point, handler)


def disable(name: str) -> None:
    _ACTIVE.pop(name, None)
    if name in _POINT_OF:
        faults.uninstall(_POINT_OF[name][0])


def is_active(name: str) -> bool:
    return name in _ACTIVE


def install_from_environment() -> None:
    """Enable the faults named in ``ANALYTICS_FAILPOINTS`` (consumer subprocesses of the tests)."""
    for name, value in _parse(os.environ.get("ANALYTICS_FAILPOINTS", "")).items():
        enable(name, value)
