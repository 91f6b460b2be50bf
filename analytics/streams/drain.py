"""Knowing when a consumer group has written everything produced so far.

Lag from high watermarks is only an estimate (some Kafka-protocol brokers, Tansu among
them, report a high watermark that trails the log end by up to one record batch), so
``manage.py e2e`` and the fault tests use an exact method: produce one control message
(a drain marker) to every partition, note the offsets the broker acknowledged, and wait
until the group's committed offset of each partition has passed its marker. The consumer
stores nothing for a marker and commits past it like any other message.
"""

from __future__ import annotations

import time

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from analytics.streams.kafka.config import consumer_config, producer_config
from analytics.streams.kafka.wire import CONTROL_HEADER, DRAIN_MARKER, control_message


def partition_ids(topic: str, *, timeout: float = 10.0) -> list[int]:
    producer = Producer(producer_config())
    metadata = producer.list_topics(topic, timeout=timeout).topics.get(topic)
    if metadata is None or metadata.error is not None:
        raise RuntimeError(f"topic {topic!r} is not available: {metadata.error if metadata else 'missing'}")
    return sorted(metadata.partitions)


def send_drain_markers(topic: str, *, timeout: float = 30.0) -> dict[int, int]:
    """Produce a marker to every partition; returns partition -> offset to be committed past."""
    producer = Producer(producer_config(**{"linger.ms": 0}))
    targets: dict[int, int] = {}
    errors: list[KafkaError] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(error)
        else:
            partition, offset = message.partition(), message.offset()
            # A delivered message has both.
            assert partition is not None
            assert offset is not None
            targets[partition] = offset + 1

    for partition in partition_ids(topic):
        producer.produce(
            topic,
            control_message(DRAIN_MARKER),
            partition=partition,
            headers=[(CONTROL_HEADER, DRAIN_MARKER)],
            on_delivery=on_delivery,
        )
    remaining = producer.flush(timeout)
    if remaining or errors:
        raise RuntimeError(f"drain markers not acknowledged: {errors[0].str() if errors else remaining}")
    return targets


def committed_offsets(group: str, topic: str, partitions: list[int], *, timeout: float = 10.0) -> dict[int, int]:
    """The group's committed offsets (a partition without a commit is absent)."""
    # A consumer that never subscribes does not join the group; it only reads its offsets.
    consumer = Consumer(consumer_config(group))
    try:
        found = consumer.committed([TopicPartition(topic, partition) for partition in partitions], timeout=timeout)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


def remaining_lag(group: str, topic: str, targets: dict[int, int]) -> int:
    """Offsets still to be committed before every marker in ``targets`` is passed."""
    committed = committed_offsets(group, topic, list(targets))
    return sum(max(target - committed.get(partition, 0), 0) for partition, target in targets.items())


def wait_until_drained(
    group: str, topic: str, targets: dict[int, int], *, timeout: float, interval: float = 0.5
) -> bool:
    """Wait until the group committed past every marker; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if remaining_lag(group, topic, targets) == 0:
            return True
        time.sleep(interval)
    return remaining_lag(group, topic, targets) == 0
