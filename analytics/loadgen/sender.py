"""The sending side of the load generator: worker processes posting event batches.

Each worker process runs a few threads, each with its own keep-alive HTTP connection
(``http.client``: half the client CPU of urllib3's pool for the same requests), and posts batches of ``batch_size`` events to ``POST /api/v1/events``. A
batch is retried (same event ids, so a retry can never double-count) on 429, 503 and
connection errors, honouring ``Retry-After``, up to ``MAX_ATTEMPTS``. For every accepted
event the worker records its id and the wall-clock time of the first attempt (the
"send time") in a ledger file, which the verification compares with the store.

The events come already encoded from the scenario (:class:`EventChunk`): a request body
is one ``join`` of encoded events, and the ledger takes the ids as raw bytes, so the
sender does no Python work per event (see :mod:`analytics.loadgen.scenarios`).
"""

from __future__ import annotations

import http.client
import multiprocessing
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import orjson

from analytics.loadgen.scenarios import EventChunk, event_chunks

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
    """Send schedule shared by the threads of one worker (rate in events per second).

    Open loop: a batch that left late (a slow answer held every thread) does not push
    the schedule back, the next ones catch up, for at most ``catch_up`` seconds of
    backlog. So the rate asked is the rate sent whenever the server keeps up on average.
    """

    def __init__(self, rate: float, catch_up: float = 1.0) -> None:
        self.rate = rate
        self.catch_up = catch_up
        self.lock = threading.Lock()
        self.next_at = time.monotonic()

    def take(self, events: int) -> None:
        if self.rate <= 0:
            return
        with self.lock:
            now = time.monotonic()
            start = max(self.next_at, now - self.catch_up)
            self.next_at = start + events / self.rate
        delay = start - now
        if delay > 0:
            time.sleep(delay)


def _quota(total: int | None, worker: int, workers: int) -> int | None:
    if total is None:
        return None
    return total // workers + (1 if worker < total % workers else 0)


class _Feed:
    """Hands out batches (encoded events and their ids) from the scenario's chunks, under a lock."""

    def __init__(self, plan: SendPlan, worker: int) -> None:
        self.chunks = event_chunks(
            plan.scenario,
            plan.seed * 1000 + worker,
            max(1, plan.users // plan.workers),
            plan.rate / plan.workers if plan.rate else None,
        )
        self.remaining = _quota(plan.events, worker, plan.workers)
        self.deadline = time.monotonic() + plan.duration if plan.duration else None
        self.batch_size = plan.batch_size
        self.lock = threading.Lock()
        self.current: EventChunk | None = None
        self.position = 0

    def next(self) -> tuple[list[bytes], np.ndarray]:
        with self.lock:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                return [], np.empty((0, 16), np.uint8)
            size = self.batch_size if self.remaining is None else min(self.batch_size, self.remaining)
            events: list[bytes] = []
            ids: list[np.ndarray] = []
            while len(events) < size:
                if self.current is None or self.position >= len(self.current):
                    self.current, self.position = next(self.chunks), 0
                end = min(len(self.current), self.position + size - len(events))
                events.extend(self.current.json[self.position : end])
                ids.append(self.current.ids[self.position : end])
                self.position = end
            if self.remaining is not None:
                self.remaining -= size
            if not ids:
                return [], np.empty((0, 16), np.uint8)
            return events, ids[0] if len(ids) == 1 else np.concatenate(ids)


def run_worker(plan: SendPlan, worker: int, counters: Any) -> None:
    """Entry point of one worker process (also callable in-process for one worker)."""
    bucket = _Bucket(plan.rate / plan.workers if plan.rate else 0)
    feed = _Feed(plan, worker)
    lock = threading.Lock()
    counter_lock = threading.Lock()
    ledgers: list[np.ndarray] = []
    # Several comma-separated targets (web processes) are shared out over the threads.
    urls = [target.strip().rstrip("/") + "/api/v1/events" for target in plan.target.split(",") if target.strip()]
    headers = {"Content-Type": "application/json", "X-Api-Key": plan.write_key, "Connection": "keep-alive"}

    def thread_main(url: str) -> None:
        counters_view = _Counters(counters, worker, counter_lock)
        connection = _Connection(url, plan.timeout)
        while True:
            events, ids = feed.next()
            if not events:
                connection.close()
                return
            bucket.take(len(events))
            accepted, sent_ms = _send(connection, headers, events, counters_view)
            if accepted is not None:
                ledger = np.empty(int(accepted.sum()), dtype=LEDGER_DTYPE)
                ledger["event_id"] = ids[accepted].view("V16").ravel()
                ledger["sent_ms"] = sent_ms
                with lock:
                    ledgers.append(ledger)

    threads = [
        threading.Thread(target=thread_main, args=(urls[(worker + index) % len(urls)],), daemon=True)
        for index in range(plan.threads)
    ]
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


class _Connection:
    """One keep-alive connection to one target, reopened after any error."""

    def __init__(self, url: str, timeout: float) -> None:
        parsed = urlsplit(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self.https = parsed.scheme == "https"
        self.path = parsed.path or "/"
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, body); raises OSError / http.client.HTTPException (the connection is dropped)."""
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self._connection = kind(self.host, self.port, timeout=self.timeout)
        try:
            self._connection.request("POST", self.path, body=body, headers=headers)
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _send(
    connection: _Connection, headers: dict[str, str], events: list[bytes], counters: _Counters
) -> tuple[np.ndarray | None, float]:
    """Post one batch until accepted or out of attempts; returns (mask of accepted events, send time ms)."""
    sent_ms = time.time() * 1000
    events_json = b",".join(events)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        # sent_at is the time of THIS attempt, as SDKs do: the server corrects clock skew
        # with it, and a stale one would move a retried event's time by the retry delay.
        body = b'{"batch":[' + events_json + b'],"sent_at":"' + _iso_now().encode() + b'"}'
        counters.add(2, 1)
        retry_after = min(0.1 * 2**attempt, 5.0) * (0.5 + random.random())
        try:
            status, answer_headers, data = connection.post(body, headers)
        except (OSError, http.client.HTTPException):
            status, answer_headers, data = 0, {}, b""
        if status in (200, 202):
            answer = orjson.loads(data)
            accepted = np.ones(len(events), dtype=bool)
            for item in answer.get("rejected", []):
                accepted[item["index"]] = False
            kept = int(accepted.sum())
            counters.add(0, kept)
            counters.add(1, len(events) - kept)
            return accepted, sent_ms
        if status and status not in (429, 503, 502, 504):
            break  # a 4xx other than 429 will not change on a retry
        if answer_headers.get("retry-after", "").isdigit():
            retry_after = min(float(answer_headers["retry-after"]), 5.0) * (0.5 + random.random())
        counters.add(3, 1)
        time.sleep(retry_after)
    counters.add(1, len(events))
    return None, sent_ms


def _iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1000) % 1000:03d}Z"


def start_workers(plan: SendPlan) -> tuple[list[multiprocessing.context.ForkProcess], Any]:
    """Fork the worker processes; returns them and the shared counters."""
    context = multiprocessing.get_context("fork")
    counters = context.Array("q", plan.workers * COUNTERS, lock=False)
    processes = [
        context.Process(target=run_worker, args=(plan, worker, counters), daemon=True) for worker in range(plan.workers)
    ]
    for process in processes:
        process.start()
    return processes, counters


def totals(counters: Any, workers: int) -> tuple[int, int, int, int]:
    """(accepted, failed, requests, retries) over all workers."""
    values = list(counters)
    return tuple(sum(values[worker * COUNTERS + index] for worker in range(workers)) for index in range(COUNTERS))


def read_ledger(ledger_dir: str | Path) -> np.ndarray:
    """Every worker's ledger in one array of (event_id bytes, sent_ms)."""
    parts = [np.fromfile(path, dtype=LEDGER_DTYPE) for path in sorted(Path(ledger_dir).glob("ledger-*.bin"))]
    return np.concatenate(parts) if parts else np.empty(0, dtype=LEDGER_DTYPE)
