"""The embedded mode's batch writer: many concurrent requests, one insert.

Every insert into ClickHouse creates a part, so writing each request on its own would
flood chDB with tiny parts. Requests hand their rows to :class:`BatchWriter`, whose
thread writes whatever has gathered as one batch (group commit): at once when the
writer is idle and the previous flush started ``interval`` ago or more; otherwise when
the previous flush started at least ``interval`` ago, or when ``max_rows`` are waiting;
and, while flushes are small, when no rows arrived for ``quiet`` seconds. Each request
waits for the flush that contains its rows, so a 202 still means "written to the store".

Why the interval: each insert has a fixed CPU cost in chDB whatever its size (creating a
part's files), and every part it creates is merged later, so under load few large
flushes are much cheaper than many small ones. Why the quiet gap, and only after a small flush: a few clients that each
wait for their answer before sending again (a backfill script, a handful of servers)
are all waiting after a few milliseconds without rows, and would otherwise wait out the
interval on every request. The gap does not tell such clients apart from independent
senders at a moderate rate, for whom it only means more, smaller flushes; so it applies
only while the last flush was under ``SMALL_FLUSH_ROWS``: under a light load the spare
CPU buys latency, and near saturation flushes are large and the interval caps the
insert rate as before.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeAlias

import pyarrow as pa

from analytics.core.logging import get_logger
from analytics.streams import metrics

log = get_logger(__name__)

DEFAULT_QUIET_SECONDS = 0.004
# Below this many rows in the last flush the quiet gap applies (see the module docstring).
SMALL_FLUSH_ROWS = 1_000

Rows = Sequence[Mapping[str, Any]]
# A submission: row dicts, or an Arrow table of events (what DirectBus hands over).
Batch: TypeAlias = Rows | pa.Table
WriteFunction = Callable[[Any, str], Any]


def rows_digest(rows: Rows) -> str:
    """A digest naming exactly these rows (their identities: project, source and event id, in order).

    It is the batch's insert token, so it must tell apart two events that differ only in
    their source: with the source left out, a second source reusing an event id had the
    token of the first one's batch and ClickHouse dropped it as a repeat.
    """
    digest = hashlib.sha256()
    for row in rows:
        digest.update(f"{row['project_id']}:{row.get('source_id') or ''}:{row['event_id']};".encode())
    return digest.hexdigest()


def _combine(batches: list[Batch]) -> Any:
    """One payload for the writer: tables are concatenated (no copy), row lists joined."""
    if all(isinstance(batch, pa.Table) for batch in batches):
        return batches[0] if len(batches) == 1 else pa.concat_tables(batches)
    rows: list[Mapping[str, Any]] = []
    for batch in batches:
        rows.extend(batch.to_pylist() if isinstance(batch, pa.Table) else batch)
    return rows


def _settle(future: Future[int], *, result: int = 0, error: BaseException | None = None) -> None:
    """Resolve a request's future unless it was cancelled (the client went away); its rows
    were still written, and a resend is de-duplicated."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:
        pass


def _settle_all(taken: list[tuple[Batch, str, Future[int]]], *, error: BaseException | None = None) -> None:
    # A function of its own: its frame (and its loop variable) is not on the error's traceback.
    for part, _, future in taken:
        if error is None:
            _settle(future, result=len(part))
        else:
            _settle(future, error=error)


class BatchWriter:
    def __init__(
        self,
        write: WriteFunction,
        *,
        interval: float,
        max_rows: int,
        quiet: float = DEFAULT_QUIET_SECONDS,
        name: str = "ingest-batch-writer",
    ):
        self._write = write
        self.interval = interval
        self.max_rows = max_rows
        self.quiet = quiet
        self._name = name
        self._condition = threading.Condition()
        self._queue: list[tuple[Batch, str, Future[int]]] = []
        self._queued_rows = 0
        self._last_flush = 0.0
        self._last_flush_rows = 0
        self._last_submit = 0.0
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, rows: Batch, *, digest: str | None = None) -> Future[int]:
        """Queue rows (or an Arrow table with ``digest``, see :func:`rows_digest`); the future
        resolves when they are written (or fails with the error)."""
        if digest is None:
            digest = rows_digest(rows.to_pylist() if isinstance(rows, pa.Table) else rows)
        future: Future[int] = Future()
        with self._condition:
            if self._closed:
                raise RuntimeError("the batch writer is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.append((rows, digest, future))
            self._queued_rows += len(rows)
            self._last_submit = time.monotonic()
            self._condition.notify()
        return future

    def _take(self) -> list[tuple[Batch, str, Future[int]]] | None:
        with self._condition:
            while True:
                if not self._queue:
                    if self._closed:
                        return None
                    self._condition.wait()
                    continue
                now = time.monotonic()
                due = self._last_flush + self.interval - now
                if self._last_flush_rows < SMALL_FLUSH_ROWS:
                    due = min(due, self._last_submit + self.quiet - now)
                if due <= 0 or self._queued_rows >= self.max_rows or self._closed:
                    break
                self._condition.wait(due)
            taken: list[tuple[Batch, str, Future[int]]] = []
            count = 0
            while self._queue and (not taken or count + len(self._queue[0][0]) <= self.max_rows):
                item = self._queue.pop(0)
                taken.append(item)
                count += len(item[0])
            self._queued_rows -= count
            return taken

    def _run(self) -> None:
        while True:
            taken = self._take()
            if taken is None:
                return
            self._flush(taken)

    def _flush(self, taken: list[tuple[Batch, str, Future[int]]]) -> None:
        count = sum(len(part) for part, _, _ in taken)
        token = "direct:" + (
            taken[0][1]
            if len(taken) == 1
            else hashlib.sha256("".join(digest for _, digest, _ in taken).encode()).hexdigest()
        )
        started = time.monotonic()
        # The interval caps how often flushes start; a slow flush is followed at once by the next.
        self._last_flush = started
        self._last_flush_rows = count
        try:
            self._write(_combine([part for part, _, _ in taken]), token)
        except BaseException as error:  # every waiting request must hear about it
            metrics.BATCH_FLUSH_ERRORS.inc()
            log.warning("ingest.batch_writer.flush_failed", rows=count, error=type(error).__name__)
            _settle_all(taken, error=error)
        else:
            _settle_all(taken)
        finally:
            metrics.BATCH_FLUSH_SECONDS.observe(time.monotonic() - started)
            metrics.BATCH_FLUSH_ROWS.observe(count)
            # The error's traceback holds this frame, whose `taken` holds the futures, which
            # hold the error: a reference cycle that kept every failed batch in memory until
            # a (rare, see analytics/core/gctuning.py) full collection. Emptied, it holds nothing.
            taken.clear()

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
