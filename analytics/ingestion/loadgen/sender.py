"""The sending side of the load generator: worker processes posting event batches.

Each worker process runs a few threads, each with a keep-alive HTTP connection
(urllib3), and posts batches of ``batch_size`` events to ``POST /api/v1/events``. A
batch is retried (same event ids, so a retry can never double-count) on 429, 503 and
connection errors, honouring ``Retry-After``, up to ``MAX_ATTEMPTS``. For every accepted
event the worker records its id and the wall-clock time of the first attempt (the
"send time") in a ledger file, which the verification compares with the store.
"""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import urllib3

from analytics.ingestion.loadgen.scenarios import SCENARIOS

MAX_ATTEMPTS = 8
# V16, not S16: a bytes dtype would drop the trailing zero bytes of a UUID.
LEDGER_DTYPE = np.dtype([("event_id", "V16"), ("sent_ms", "<f8")])
# Per worker: accepted events, failed events, requests, retried requests.
COUNTERS = 4


@dataclass(frozen=True)
class SendPlan:
    scenario: str
    target: str
    write_key: str
    events: int | None
    duration: float | None
    rate: float
    users: int
    workers: int
    threads: int
    batch_size: int
    ledger_dir: str
    seed: int
    timeout: float = 30.0


class _Bucket:
    """Token bucket shared by the threads of one worker (rate in events per second)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.lock = threading.Lock()
        self.next_at = time.monotonic()

    def take(self, events: int) -> None:
        if self.rate <= 0:
            return
        with self.lock:
            now = time.monotonic()
            start = max(self.next_at, now)
            self.next_at = start + events / self.rate
        delay = start - now
        if delay > 0:
            time.sleep(delay)


def _quota(total: int | None, worker: int, workers: int) -> int | None:
    if total is None:
        return None
    return total // workers + (1 if worker < total % workers else 0)


def run_worker(plan: SendPlan, worker: int, counters: Any) -> None:
    """Entry point of one worker process (also callable in-process for one worker)."""
    quota = _quota(plan.events, worker, plan.workers)
    deadline = time.monotonic() + plan.duration if plan.duration else None
    bucket = _Bucket(plan.rate / plan.workers if plan.rate else 0)
    generator = SCENARIOS[plan.scenario](plan.seed * 1000 + worker, max(1, plan.users // plan.workers))
    lock = threading.Lock()
    counter_lock = threading.Lock()
    state = {"remaining": quota}
    ledgers: list[np.ndarray] = []
    # Several comma-separated targets (web processes) are shared out over the threads.
    urls = [target.strip().rstrip("/") + "/api/v1/events" for target in plan.target.split(",") if target.strip()]
    pool = urllib3.PoolManager(
        num_pools=len(urls) + 1, maxsize=plan.threads, block=True, retries=False,
        timeout=urllib3.Timeout(connect=5, read=plan.timeout),
    )
    headers = {"Content-Type": "application/json", "X-Api-Key": plan.write_key, "Connection": "keep-alive"}

    def next_batch() -> list[dict[str, Any]]:
        with lock:
            if deadline is not None and time.monotonic() >= deadline:
                return []
            size = plan.batch_size
            if state["remaining"] is not None:
                size = min(size, state["remaining"])
                state["remaining"] -= size
            return [next(generator) for _ in range(size)]

    def thread_main(url: str) -> None:
        while True:
            batch = next_batch()
            if not batch:
                return
            bucket.take(len(batch))
            accepted, sent_ms = _send(pool, url, headers, batch, _Counters(counters, worker, counter_lock))
            if accepted:
                ledger = np.empty(len(accepted), dtype=LEDGER_DTYPE)
                ledger["event_id"] = [uuid.UUID(event_id).bytes for event_id in accepted]
                ledger["sent_ms"] = sent_ms
                with lock:
                    ledgers.append(ledger)

    threads = [threading.Thread(target=thread_main, args=(urls[(worker + index) % len(urls)],), daemon=True)
               for index in range(plan.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = np.concatenate(ledgers) if ledgers else np.empty(0, dtype=LEDGER_DTYPE)
    merged.tofile(Path(plan.ledger_dir) / f"ledger-{worker}.bin")


class _Counters:
    """One worker's slots of the shared counters; its threads add under a lock."""

    def __init__(self, shared: Any, worker: int, lock: threading.Lock) -> None:
        self.shared = shared
        self.base = worker * COUNTERS
        self.lock = lock

    def add(self, index: int, value: int) -> None:
        with self.lock:
            self.shared[self.base + index] += value


def _send(pool: urllib3.PoolManager, url: str, headers: dict[str, str], batch: list[dict[str, Any]],
          counters: _Counters) -> tuple[list[str], float]:
    """Post one batch until accepted or out of attempts; returns (accepted ids, send time ms)."""
    sent_ms = time.time() * 1000
    body = orjson.dumps({"batch": batch, "sent_at": _iso_now()})
    for attempt in range(1, MAX_ATTEMPTS + 1):
        counters.add(2, 1)
        retry_after = min(0.1 * 2 ** attempt, 5.0) * (0.5 + random.random())
        try:
            response = pool.request("POST", url, body=body, headers=headers)
        except urllib3.exceptions.HTTPError:
            response = None
        if response is not None and response.status in (200, 202):
            answer = orjson.loads(response.data)
            rejected = {item["index"] for item in answer.get("rejected", [])}
            accepted = [event["event_id"] for index, event in enumerate(batch) if index not in rejected]
            counters.add(0, len(accepted))
            counters.add(1, len(rejected))
            return accepted, sent_ms
        if response is not None and response.status not in (429, 503, 502, 504):
            break  # a 4xx other than 429 will not change on a retry
        if response is not None and response.headers.get("Retry-After", "").isdigit():
            retry_after = min(float(response.headers["Retry-After"]), 5.0) * (0.5 + random.random())
        counters.add(3, 1)
        time.sleep(retry_after)
    counters.add(1, len(batch))
    return [], sent_ms


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def start_workers(plan: SendPlan) -> tuple[list[multiprocessing.Process], Any]:
    """Fork the worker processes; returns them and the shared counters."""
    context = multiprocessing.get_context("fork")
    counters = context.Array("q", plan.workers * COUNTERS, lock=False)
    processes = [context.Process(target=run_worker, args=(plan, worker, counters), daemon=True)
                 for worker in range(plan.workers)]
    for process in processes:
        process.start()
    return processes, counters


def totals(counters: Any, workers: int) -> tuple[int, int, int, int]:
    """(accepted, failed, requests, retries) over all workers."""
    values = list(counters)
    return tuple(sum(values[worker * COUNTERS + index] for worker in range(workers)) for index in range(COUNTERS))  # type: ignore[return-value]


def read_ledger(ledger_dir: str | Path) -> np.ndarray:
    """Every worker's ledger in one array of (event_id bytes, sent_ms)."""
    parts = [np.fromfile(path, dtype=LEDGER_DTYPE) for path in sorted(Path(ledger_dir).glob("ledger-*.bin"))]
    return np.concatenate(parts) if parts else np.empty(0, dtype=LEDGER_DTYPE)
