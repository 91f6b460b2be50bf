"""Live counters of stored events per project, and their coalesced announcement.

The sink (:func:`analytics.streams.sink.store_event_batch`) calls :func:`record_stored` for
every batch it has written, in both modes (the embedded batch writer's thread, the Kafka
consumer's thread). For each project in the batch it

1. adds its *recent* events (event time within the last :data:`WINDOW_SECONDS` seconds, or
   up to :data:`FUTURE_TOLERANCE_SECONDS` ahead) to a sliding window of one-second buckets
   by event time, in the Django cache (Redis in scale mode, so every consumer process adds
   to the same window; this process's memory in embedded mode), keyed
   ``live:<project>:<epoch second>`` and kept :data:`BUCKET_TTL_SECONDS`; "the last
   minute" is the sum of the 60 buckets up to now. A backfill of old events stores rows but
   does not move it;
2. marks the project as changed. A publisher thread sends one Channels group message per
   project at most every :data:`PUBLISH_INTERVAL_SECONDS` (a few per second), carrying the
   rows stored since its previous message (``stored``), how many of them were recent
   (``recent``: what a page adds to "today" and to its current bucket) and the window's sum::

       {"type": "live.update", "stored": 12, "recent": 12, "last_minute": 340, "at": 1764740000123}

Counts are of rows handed to the store (the write-time duplicate filter may still drop a
resent event). A failing cache or channel layer costs the live view an update,
never the batch: errors are counted and logged, not raised.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from django.core.cache import cache
from prometheus_client import Counter

from analytics.core.live import group_send_from_thread, live_group
from analytics.core.logging import get_logger

log = get_logger(__name__)

WINDOW_SECONDS = 60
FUTURE_TOLERANCE_SECONDS = 60  # clocks of senders run a little ahead
BUCKET_TTL_SECONDS = 2 * WINDOW_SECONDS
PUBLISH_INTERVAL_SECONDS = 0.25

LIVE_ERRORS = Counter("live_counter_errors_total", "Live counter updates or messages that failed, by step.", ["step"])


def _bucket_key(project_id: int, second: int) -> str:
    return f"live:{int(project_id)}:{int(second)}"


def counts_by_project(table: pa.Table) -> dict[int, int]:
    """Rows per project id of an Arrow batch."""
    if table.num_rows == 0:
        return {}
    counted = pc.value_counts(table["project_id"])
    return {
        int(project): int(count)
        for project, count in zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True)
    }


def recent_by_second(table: pa.Table, *, now: float) -> dict[tuple[int, int], int]:
    """Rows whose event time is within the window before ``now`` (or up to
    :data:`FUTURE_TOLERANCE_SECONDS` after it), by (project id, epoch second of the event)."""
    if table.num_rows == 0:
        return {}
    millis = pc.cast(table["timestamp"], pa.int64())
    low, high = int((now - WINDOW_SECONDS) * 1000), int((now + FUTURE_TOLERANCE_SECONDS) * 1000)
    mask = pc.and_(pc.greater_equal(millis, low), pc.less(millis, high))
    recent = pa.table(
        {"project_id": pc.filter(table["project_id"], mask), "second": pc.divide(pc.filter(millis, mask), 1000)}
    )
    if recent.num_rows == 0:
        return {}
    grouped = recent.group_by(["project_id", "second"]).aggregate([("second", "count")])
    return {
        (int(project), int(second)): int(count)
        for project, second, count in zip(
            grouped["project_id"].to_pylist(),
            grouped["second"].to_pylist(),
            grouped["second_count"].to_pylist(),
            strict=True,
        )
    }


def window_add(project_id: int, second: int, count: int) -> None:
    """Add ``count`` events to the project's bucket of one epoch second."""
    key = _bucket_key(project_id, second)
    cache.add(key, 0, timeout=BUCKET_TTL_SECONDS)
    try:
        cache.incr(key, count)
    except ValueError:  # expired between add and incr
        cache.set(key, count, timeout=BUCKET_TTL_SECONDS)


def last_minute(project_id: int, *, now: float | None = None) -> int:
    """Events of the project stored so far whose time is within the last :data:`WINDOW_SECONDS`
    seconds (this one included)."""
    current = int(now if now is not None else time.time())
    keys = [_bucket_key(project_id, second) for second in range(current - WINDOW_SECONDS + 1, current + 1)]
    return sum(int(value) for value in cache.get_many(keys).values())


class _Publisher:
    """Coalesces per-project announcements; one daemon thread per process, started on first use."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending: dict[int, tuple[int, int]] = {}  # project -> (stored, recent) since the last message
        self._last_sent: dict[int, float] = {}
        self._thread: threading.Thread | None = None

    def mark(self, project_id: int, stored: int, recent: int) -> None:
        with self._condition:
            before = self._pending.get(project_id, (0, 0))
            self._pending[project_id] = (before[0] + stored, before[1] + recent)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="live-publisher", daemon=True)
                self._thread.start()
            self._condition.notify()

    def _due(self) -> list[tuple[int, tuple[int, int]]]:
        """Wait until some project may be announced; take those (under the lock)."""
        with self._condition:
            while True:
                now = time.monotonic()
                due, wait = [], None
                for project_id in list(self._pending):
                    ready_at = self._last_sent.get(project_id, 0.0) + PUBLISH_INTERVAL_SECONDS
                    if ready_at <= now:
                        due.append((project_id, self._pending.pop(project_id)))
                        self._last_sent[project_id] = now
                    else:
                        wait = ready_at - now if wait is None else min(wait, ready_at - now)
                if due:
                    return due
                self._condition.wait(timeout=wait)

    def _run(self) -> None:
        while True:
            for project_id, (stored, recent) in self._due():
                self._announce(project_id, stored, recent)

    @staticmethod
    def _announce(project_id: int, stored: int, recent: int) -> None:
        message: dict[str, Any] = {
            "type": "live.update",
            "stored": stored,
            "recent": recent,
            "at": int(time.time() * 1000),
        }
        try:
            message["last_minute"] = last_minute(project_id)
        except Exception as error:
            LIVE_ERRORS.labels("window_read").inc()
            log.warning("live.window_read_failed", project_id=project_id, error=type(error).__name__)
        try:
            group_send_from_thread(live_group(project_id), message)
        except Exception as error:
            LIVE_ERRORS.labels("send").inc()
            log.warning("live.send_failed", project_id=project_id, error=type(error).__name__)


_publisher = _Publisher()


def record_stored(table: pa.Table) -> None:
    """Count a stored batch into its projects' windows and schedule their announcements."""
    now = time.time()
    try:
        stored = counts_by_project(table)
        recent = recent_by_second(table, now=now)
    except Exception as error:  # a batch without the expected columns is not ours to count
        LIVE_ERRORS.labels("count").inc()
        log.warning("live.count_failed", error=type(error).__name__)
        return
    recent_total: dict[int, int] = {}
    for (project_id, second), count in recent.items():
        recent_total[project_id] = recent_total.get(project_id, 0) + count
        try:
            window_add(project_id, second, count)
        except Exception as error:
            LIVE_ERRORS.labels("window_add").inc()
            log.warning("live.window_add_failed", project_id=project_id, error=type(error).__name__)
    for project_id, count in stored.items():
        _publisher.mark(project_id, count, recent_total.get(project_id, 0))
