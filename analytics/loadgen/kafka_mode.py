"""The load generator as telecom providers run it: their messages straight to the Kafka topic.

``manage.py loadgen --mode kafka`` publishes network actions in the providers' shape
(``analytics/ingestion/network_actions.py``) to ``TELECOM_KAFKA_TOPIC``, keyed by
``user_id``, from ``workers`` producer threads at ``rate`` events/s over all (0: as fast
as the broker takes them), for ``duration`` seconds (0: until SIGINT/SIGTERM) or
``events`` messages. An event counts as sent when the broker acknowledged it (acks=all);
its id and send time go to the ledger. While it runs, a verifier compares the ledger
with the store every ``verify_interval`` seconds, and a line is printed every
:data:`PROGRESS_SECONDS` with ``events_sent``, ``events_verified``, ``events_failed``,
``events_per_sec``, ``success_rate`` and ``avg_latency`` (ms, send to stored when
verifying, else send to acknowledged).

The consumer of the topic (``consume_events --stream network-actions``) must be bound to
the project that is verified (``TELECOM_PROJECT_ID``).
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from confluent_kafka import KafkaError, Message, Producer

from analytics.loadgen import queries
from analytics.loadgen.runner import ProgressStream
from analytics.loadgen.scenarios import iso_strings, random_ids, uuid_strings
from analytics.loadgen.sender import LEDGER_DTYPE
from analytics.streams.kafka.config import ensure_topics, producer_config
from analytics.warehouse.errors import StoreError
from analytics.warehouse.store import EventStore

PROGRESS_SECONDS = 5.0
TYPES = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
_CELLS = tuple(f"cell-{index:03d}" for index in range(40))


@dataclass(frozen=True)
class KafkaPlan:
    topic: str
    partitions: int
    users: int
    rate: float
    duration: float
    events: int | None
    batch_size: int
    workers: int
    source_id: str
    seed: int
    verify_interval: float


def provider_messages(
    rng: np.random.Generator, n: int, *, users: int, source_id: str
) -> list[tuple[bytes, bytes, bytes]]:
    """``n`` valid provider messages started in the last ten minutes: ``(key, value, id)``."""
    now = int(time.time() * 1000)
    ids = random_ids(rng, n)
    id_text = uuid_strings(ids)
    kinds = rng.integers(0, len(TYPES), size=n).tolist()
    who = rng.integers(0, max(1, users), size=n).tolist()
    started_ms = now - rng.integers(1_000, 600_001, size=n)
    duration_array = rng.integers(0, 900, size=n)
    started = [text.decode() for text in iso_strings(started_ms)]
    ended = [text.decode() for text in iso_strings(started_ms + (duration_array + rng.integers(0, 30, size=n)) * 1000)]
    durations = duration_array.tolist()
    up = rng.exponential(200_000, size=n).astype(np.int64).tolist()
    down = rng.exponential(2_000_000, size=n).astype(np.int64).tolist()
    cells = rng.integers(0, len(_CELLS), size=n).tolist()
    out = []
    for index in range(n):
        kind = TYPES[kinds[index]]
        user = f"47{who[index]:08d}"
        message: dict[str, Any] = {
            "event_id": id_text[index].decode(),
            "source_id": source_id,
            "user_id": user,
            "type": kind,
            "started_at": started[index],
            "meta": {"cell": _CELLS[cells[index]]},
        }
        if kind != "SMS_SENT" and kind != "SMS_RECEIVED":
            message["duration_sec"] = durations[index]
            message["ended_at"] = ended[index]
            message["bytes_up"] = up[index] if kind == "DATA" else 0
            message["bytes_down"] = down[index] if kind == "DATA" else 0
        out.append((user.encode(), orjson.dumps(message), ids[index].tobytes()))
    return out


@dataclass
class _Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    failed: int = 0
    ack_latency_ms: float = 0.0
    ledger: list[tuple[bytes, float]] = field(default_factory=list)

    def ledger_array(self) -> np.ndarray:
        with self.lock:
            entries = list(self.ledger)
        return np.array(entries, dtype=LEDGER_DTYPE) if entries else np.zeros(0, dtype=LEDGER_DTYPE)


@dataclass
class StoreCheck:
    verified: int = 0
    lost: int = 0
    duplicates: int = 0
    avg_latency_ms: float | None = None


def check_store(store: EventStore, ledger: np.ndarray, *, project_id: int, since: datetime) -> StoreCheck:
    """How many ledger events are stored (and twice), and their mean send-to-stored latency."""
    result = store.query(queries.stored_events(project_id=project_id, since=since))
    stored: dict[bytes, tuple[int, int]] = {}
    if result.table.num_rows:
        columns = (result.table.column(name).to_pylist() for name in ("event_id", "copies", "inserted_ms"))
        stored = {uuid.UUID(text).bytes: (copies, ms) for text, copies, ms in zip(*columns, strict=True)}
    check = StoreCheck()
    total_latency = 0.0
    for event_id, sent_ms in zip(ledger["event_id"].tolist(), ledger["sent_ms"].tolist(), strict=True):
        found = stored.get(event_id)
        if found is None:
            check.lost += 1
            continue
        check.verified += 1
        check.duplicates += found[0] > 1
        total_latency += found[1] - sent_ms
    check.avg_latency_ms = round(total_latency / check.verified, 1) if check.verified else None
    return check


class KafkaLoad:
    """Producer threads, the verifier and the progress line; see the module docstring."""

    def __init__(
        self,
        plan: KafkaPlan,
        *,
        store: EventStore | None = None,
        project_id: int | None = None,
        since: datetime | None = None,
        stop: threading.Event | None = None,
        progress: ProgressStream | None = None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.project_id = project_id
        self.since = since
        self.stop = stop or threading.Event()
        self.progress = progress
        self.counters = _Counters()
        self.last_check = StoreCheck()
        self.started = 0.0
        self._claimed = 0
        self._claim_lock = threading.Lock()

    # ------------------------------------------------------------------ sending
    def _claim(self, wanted: int) -> int:
        """How many of the next ``wanted`` messages this worker may send (by count), after
        waiting until the rate allows them (open loop: a late worker does not delay others)."""
        with self._claim_lock:
            if self.plan.events is not None:
                wanted = max(0, min(wanted, self.plan.events - self._claimed))
            self._claimed += wanted
            due = self.started + self._claimed / self.plan.rate if self.plan.rate > 0 else 0.0
        delay = due - time.monotonic()
        if wanted and delay > 0:
            self.stop.wait(delay)
        return wanted

    def _worker(self, index: int) -> None:
        rng = np.random.default_rng([self.plan.seed, index])
        producer = Producer(producer_config())
        counters = self.counters

        def delivered(error: KafkaError | None, _message: Message, event_id: bytes, sent_ms: float) -> None:
            with counters.lock:
                if error is None:
                    counters.sent += 1
                    counters.ack_latency_ms += time.time() * 1000 - sent_ms
                    counters.ledger.append((event_id, sent_ms))
                else:
                    counters.failed += 1

        try:
            while not self.stop.is_set():
                count = self._claim(self.plan.batch_size)
                if count == 0 or self.stop.is_set():
                    break
                sent_ms = time.time() * 1000
                for key, value, event_id in provider_messages(
                    rng, count, users=self.plan.users, source_id=self.plan.source_id
                ):
                    producer.produce(
                        self.plan.topic,
                        value,
                        key,
                        on_delivery=functools.partial(delivered, event_id=event_id, sent_ms=sent_ms),
                    )
                producer.poll(0)
        finally:
            remaining = producer.flush(30)
            if remaining:
                with counters.lock:
                    counters.failed += remaining

    # ------------------------------------------------------------------ verifying and reporting
    def _verify(self) -> None:
        if self.store is None or self.project_id is None or self.since is None:
            return
        with contextlib.suppress(StoreError):  # the store is down now: the next check will tell
            self.last_check = check_store(
                self.store, self.counters.ledger_array(), project_id=self.project_id, since=self.since
            )

    def snapshot(self) -> dict[str, Any]:
        with self.counters.lock:
            sent, failed, ack_total = self.counters.sent, self.counters.failed, self.counters.ack_latency_ms
        elapsed = max(time.monotonic() - self.started, 1e-9)
        verifying = self.store is not None
        average = self.last_check.avg_latency_ms if verifying else (round(ack_total / sent, 1) if sent else None)
        return {
            "events_sent": sent,
            "events_verified": self.last_check.verified if verifying else None,
            "events_failed": failed,
            "events_per_sec": round(sent / elapsed, 1),
            "success_rate": round(sent / (sent + failed), 6) if sent + failed else 0.0,
            "avg_latency": average,
        }

    def _line(self) -> None:
        if self.progress is None:
            return
        values = self.snapshot()
        self.progress.write("loadgen: " + " ".join(f"{name}={value}" for name, value in values.items()) + "\n")
        self.progress.flush()

    def run(self) -> dict[str, Any]:
        """Send until done or stopped, verifying and reporting meanwhile; returns the snapshot."""
        ensure_topics([self.plan.topic], partitions=self.plan.partitions)
        self.started = time.monotonic()
        workers = [
            threading.Thread(target=self._worker, args=(index,), name=f"loadgen-kafka-{index}", daemon=True)
            for index in range(self.plan.workers)
        ]
        for worker in workers:
            worker.start()
        deadline = self.started + self.plan.duration if self.plan.duration > 0 else None
        next_line = self.started + PROGRESS_SECONDS
        next_check = self.started + self.plan.verify_interval
        while any(worker.is_alive() for worker in workers):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                self.stop.set()
            if now >= next_check:
                self._verify()
                next_check = now + self.plan.verify_interval
            if now >= next_line:
                self._line()
                next_line = now + PROGRESS_SECONDS
            time.sleep(0.1)
        for worker in workers:
            worker.join()
        seconds = time.monotonic() - self.started
        summary = self.snapshot()
        summary["seconds"] = round(seconds, 2)
        return summary

    def ledger(self) -> np.ndarray:
        return self.counters.ledger_array()
