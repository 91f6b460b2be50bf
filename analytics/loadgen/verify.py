"""Verification of a load run: is every accepted event in the store, once?

Reads the store through :mod:`analytics.loadgen.queries` (one project), joins
the answer with the ledger of accepted event ids and send times, and reports sent,
verified, lost, duplicates and the send-to-stored latency (each event's first insert
time minus its client send time) at p50/p95/p99.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from analytics.loadgen import queries
from analytics.warehouse.errors import StoreError
from analytics.warehouse.store import EventStore


@dataclass
class Verification:
    sent: int
    verified: int
    lost: int
    duplicates: int
    physical_copies: int
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    # The same percentiles per window of send time (a long run shows whether they stay flat).
    latency_windows: list[dict[str, Any]] = field(default_factory=list)
    last_stored_ms: float | None = None
    # A few of the missing event ids, to look for in the logs, the topic and the dead letters.
    lost_sample: list[str] = field(default_factory=list)
    # Every missing id (for the post-mortem; not part of the summary).
    lost_ids: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        summary = asdict(self)
        summary.pop("lost_ids", None)
        if not summary["latency_windows"]:
            summary.pop("latency_windows")
        return summary


def _percentiles(values: np.ndarray) -> dict[str, float | None]:
    if values.size == 0:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "p99": round(float(p99), 1)}


def latency_windows(
    sent_ms: np.ndarray, latencies: np.ndarray, *, origin_ms: float, window_seconds: float
) -> list[dict[str, Any]]:
    """Latency percentiles per ``window_seconds`` of send time, counted from ``origin_ms``.

    One sort, not one pass per window: an hour in 1 s windows over 10M events stays cheap.
    """
    if sent_ms.size == 0:
        return []
    index = ((sent_ms - origin_ms) // (window_seconds * 1000)).astype(np.int64)
    order = np.argsort(index, kind="stable")
    counts = np.bincount(index, minlength=int(index.max()) + 1)
    groups = np.split(latencies[order], np.cumsum(counts)[:-1])
    return [
        {"from_s": round(window * window_seconds, 3), "events": int(counts[window]), "latency_ms": _percentiles(group)}
        for window, group in enumerate(groups)
    ]


def check_once(
    store: EventStore, ledger: np.ndarray, *, project_id: int, since: datetime, window_seconds: float | None = None
) -> Verification:
    """Compare the ledger with what the store holds now (with ``window_seconds``, also the
    latency percentiles per window of send time, from the ledger's first send)."""
    result = store.query(queries.stored_events(project_id=project_id, since=since))
    stored: dict[bytes, tuple[int, int]] = {}
    if result.table.num_rows:
        ids = result.table.column("event_id").to_pylist()
        copies = result.table.column("copies").to_pylist()
        inserted = result.table.column("inserted_ms").to_pylist()
        stored = {
            uuid.UUID(event_id).bytes: (count, ms) for event_id, count, ms in zip(ids, copies, inserted, strict=True)
        }
    latencies = []
    verified_sent: list[float] = []
    lost_ids: list[str] = []
    verified = duplicates = 0
    last_stored = 0
    for event_id, sent_ms in zip(ledger["event_id"].tolist(), ledger["sent_ms"].tolist(), strict=True):
        found = stored.get(event_id)
        if found is None:
            lost_ids.append(str(uuid.UUID(bytes=event_id)))
            continue
        verified += 1
        if found[0] > 1:
            duplicates += 1
        latencies.append(found[1] - sent_ms)
        verified_sent.append(sent_ms)
        last_stored = max(last_stored, found[1])
    physical = store.query(queries.physical_copies(project_id=project_id, since=since)).scalar() or 0
    latency_array = np.asarray(latencies, dtype=np.float64)
    windows = (
        latency_windows(
            np.asarray(verified_sent, dtype=np.float64),
            latency_array,
            origin_ms=float(ledger["sent_ms"].min()),
            window_seconds=window_seconds,
        )
        if window_seconds and ledger.size
        else []
    )
    return Verification(
        sent=int(ledger.size),
        verified=verified,
        lost=int(ledger.size) - verified,
        duplicates=duplicates,
        physical_copies=int(physical),
        latency_ms=_percentiles(latency_array),
        latency_windows=windows,
        last_stored_ms=float(last_stored) if last_stored else None,
        lost_sample=lost_ids[:20],
        lost_ids=lost_ids,
    )


def verify_until_complete(
    store: EventStore, ledger: np.ndarray, *, project_id: int, since: datetime, timeout: float, interval: float = 1.0
) -> Verification:
    """Poll until every ledger event is stored or ``timeout`` passes; the last check wins."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            verification = check_once(store, ledger, project_id=project_id, since=since)
        except StoreError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)
            continue
        if verification.lost == 0 or time.monotonic() >= deadline:
            return verification
        time.sleep(interval)
