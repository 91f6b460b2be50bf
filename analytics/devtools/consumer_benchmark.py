"""Consumer throughput next to the raw Arrow insert rate of the same rows, in one run.

Used by ``manage.py consume_benchmark N`` (and open to the bench suite): it
produces N event rows to a fresh topic of the configured broker, runs the events stream
in this process until a drain marker is committed on every partition, and then inserts
the very same rows as Arrow batches of the same size straight into the store. Both
figures come from the same process, store and rows, so their ratio is meaningful even on
a busy machine.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from typing import Any

import orjson
from confluent_kafka import Producer
from django.conf import settings

from analytics.streams.consumer import StreamConsumer
from analytics.streams.drain import send_drain_markers, wait_until_drained
from analytics.streams.kafka.config import ensure_topics, producer_config
from analytics.streams.kafka.wire import decode_batch, encode_messages
from analytics.streams.registry import get_stream
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store


def _user(index: int) -> int:
    """Sessions of 7 events (``session_id``), each of one of 5,000 users."""
    return (index // 7) % 5000


def benchmark_rows(count: int, *, project_id: int) -> list[dict[str, Any]]:
    """Rows shaped like the API's output (web events with the usual enrichment)."""
    now = int(time.time() * 1000)
    values = []
    for index in range(count):
        user = _user(index)
        values.append(
            {
                "project_id": project_id,
                "event_id": str(uuid.uuid4()),
                "event": ("page_view", "signup")[index % 9 == 0],
                "distinct_id": f"user-{user}",
                "person_id": str(uuid.uuid5(uuid.NAMESPACE_OID, str(user))),
                "session_id": f"s-{index // 7}",
                "timestamp": now - index,
                "received_at": now,
                "sent_at": now,
                "source_id": "",
                "lib": "web",
                "lib_version": "1.0.0",
                "properties": orjson.dumps({"path": f"/p/{index % 40}", "$session_id": f"s-{index // 7}"}).decode(),
                "url": f"https://shop.example.com/p/{index % 40}",
                "referrer": "",
                "browser": "Chrome",
                "browser_version": "120",
                "os": "Linux",
                "os_version": "",
                "device_type": "desktop",
                "country": "DE",
                "ip": "203.0.113.0",
                "revenue": None,
                "flags": [],
                "retention_days": 365,
            }
        )
    return values


def run_benchmark(count: int, *, partitions: int = 6, project_id: int = 999_001) -> dict[str, Any]:
    """Measure the events stream against the raw insert rate; returns the figures."""
    suffix = uuid.uuid4().hex[:8]
    spec = get_stream("events")
    topic, group = f"bench-events-{suffix}", f"bench-{suffix}"
    ensure_topics([topic, f"{topic}-dead-letter"], partitions=partitions)
    rows = benchmark_rows(count, project_id=project_id)
    producer = Producer(producer_config(**{"linger.ms": 20}))
    # As the web process produces them: requests of 100 rows, a user's consecutive rows in one message.
    messages = [message for start in range(0, count, 100) for message in encode_messages(rows[start : start + 100])]
    for key, value, _events in messages:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)
    markers = send_drain_markers(topic)

    original = (settings.KAFKA_EVENTS_TOPIC, settings.KAFKA_CONSUMER_GROUP, settings.KAFKA_DEAD_LETTER_TOPIC)
    settings.KAFKA_EVENTS_TOPIC, settings.KAFKA_CONSUMER_GROUP = topic, group
    settings.KAFKA_DEAD_LETTER_TOPIC = f"{topic}-dead-letter"
    try:
        consumer = StreamConsumer(replace(spec), config={"session.timeout.ms": 6000})
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        drained = wait_until_drained(group, topic, markers, timeout=600, interval=0.2)
        consumer.stop.set()
        thread.join(timeout=120)
    finally:
        settings.KAFKA_EVENTS_TOPIC, settings.KAFKA_CONSUMER_GROUP, settings.KAFKA_DEAD_LETTER_TOPIC = original
    stats = consumer.stats

    store = get_store()
    stored = store.query(
        Query(
            name="bench.consumer_count",
            sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id},
        )
    ).scalar()

    # The same rows, already in Arrow, straight into the store in batches of the same size.
    average_batch = max(1, stats.rows // max(stats.groups, 1) // partitions)
    table = decode_batch([value for _, value, _ in messages]).table
    started = time.perf_counter()
    for start in range(0, table.num_rows, average_batch):
        store.insert_events(table.slice(start, average_batch), dedup_token=f"bench-raw-{suffix}-{start}")
    raw_seconds = time.perf_counter() - started
    return {
        "events": count,
        "drained": drained,
        "consumer_events_per_second": round(stats.busy_rate, 1),
        "raw_arrow_insert_events_per_second": round(count / raw_seconds, 1),
        "ratio": round(stats.busy_rate / (count / raw_seconds), 3) if raw_seconds else None,
        "messages": stats.messages,
        "groups": stats.groups,
        "average_partition_batch": average_batch,
        "stored_unique": stored,
        "transport": store.transport.name,
    }
