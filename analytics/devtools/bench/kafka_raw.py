"""The raw Kafka baseline: producing the same events with confluent-kafka directly."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pyarrow as pa
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from analytics.streams.kafka.wire import encode_messages

PRODUCER_CONFIG = {
    # What a tuned producer of ours would use: durable (acks=all, idempotence) and batched.
    "acks": "all",
    "enable.idempotence": True,
    "compression.type": "lz4",
    "linger.ms": 5,
    "batch.size": 1_000_000,
    "queue.buffering.max.messages": 2_000_000,
    "queue.buffering.max.kbytes": 2_000_000,
}


def create_topic(bootstrap: str, topic: str, partitions: int = 6) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)], operation_timeout=10
    )
    for future in futures.values():
        try:
            future.result(timeout=15)
        except Exception as error:
            if "TOPIC_ALREADY_EXISTS" not in str(error):
                raise


def event_count(messages: Sequence[tuple[bytes, bytes, int]]) -> int:
    """How many events the messages carry (a message may carry several)."""
    return sum(message[2] for message in messages)


def produce_raw(bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes, int]]) -> float:
    """Produce (key, value, events) messages, wait for every delivery report; returns seconds taken."""
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONFIG})
    failures: list[str] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    started = time.perf_counter()
    for key, value, _events in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(120)
    seconds = time.perf_counter() - started
    if remaining or failures:
        raise RuntimeError(f"raw produce: {remaining} undelivered, {len(failures)} failed ({failures[:1]})")
    return seconds


REQUEST_EVENTS = 100  # the batch size of the http stage's requests


def wire_messages(table: object) -> list[tuple[bytes, bytes, int]]:
    """The events of an Arrow batch as the product's Kafka messages (key, value, events).

    Uses the product's wire format (:mod:`analytics.streams.kafka.wire`): the rows are cut
    into requests of :data:`REQUEST_EVENTS`, as the web process would receive them, and a
    request's consecutive rows of one user share a message (the JSON lines of the enriched rows, times
    in epoch ms), keyed ``"{project_id}:{distinct_id}"``.
    """
    assert isinstance(table, pa.Table)
    columns = []
    for field in table.schema:
        column = table.column(field.name)
        if pa.types.is_timestamp(field.type):
            column = column.cast(pa.int64())
        columns.append(column)
    rows = pa.Table.from_arrays(columns, names=table.column_names).to_pylist()
    return [
        message
        for start in range(0, len(rows), REQUEST_EVENTS)
        for message in encode_messages(rows[start : start + REQUEST_EVENTS])
    ]


class CommittedOffsets:
    """Reads a group's committed offsets on a topic (what its consumer has finished), one client reused."""

    def __init__(self, bootstrap: str, group: str, topic: str, partitions: int) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
        self._partitions = [TopicPartition(topic, partition) for partition in range(partitions)]

    def total(self) -> int:
        offsets = self._consumer.committed(self._partitions, timeout=10)
        return sum(max(0, tp.offset) for tp in offsets)

    def close(self) -> None:
        self._consumer.close()
