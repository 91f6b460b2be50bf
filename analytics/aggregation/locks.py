"""One run per stream at a time.

PostgreSQL: the run holds ``SELECT ... FOR UPDATE`` on its watermark row for the whole
run, inside the transaction that writes the rollups; a second run either skips the
locked row (scheduled runs) or waits for it (backfills). The lock holds across worker
processes and machines and disappears with the transaction if the worker dies.
SQLite (embedded mode, one process): a lock per stream in this process; the write still
checks that the watermark did not move (compare-and-set), so correctness never depends
on the process lock alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from analytics.aggregation.models import Watermark

_process_locks: dict[int, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(watermark_id: int) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(watermark_id, threading.Lock())


@contextmanager
def stream_lock(watermark_id: int, *, wait: bool = False) -> Iterator[Watermark | None]:
    """Yield the locked, freshly read watermark, or None when another run holds it.

    On PostgreSQL the body runs inside the locking transaction: everything the body
    writes commits or rolls back together with the watermark.
    """
    if connection.vendor == "postgresql":
        with transaction.atomic():
            rows = Watermark.objects.select_for_update(skip_locked=not wait).filter(pk=watermark_id)
            yield rows.first()
        return
    lock = _process_lock(watermark_id)
    if not lock.acquire(blocking=wait):
        yield None
        return
    try:
        yield Watermark.objects.filter(pk=watermark_id).first()
    finally:
        lock.release()
