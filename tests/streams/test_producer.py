"""The Kafka bus: acknowledged publishes, one user's events in one partition, in order."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from analytics.streams.drain import partition_ids
from analytics.streams.kafka.config import consumer_config
from analytics.streams.kafka.producer import KafkaBus
from tests.streams.conftest import Topics, event_rows

pytestmark = [pytest.mark.kafka]


def test_publish_returns_after_acknowledgement_and_keeps_a_users_events_in_order(topics: Topics) -> None:
    rows = event_rows(9401, 300, users=3)
    for index, row in enumerate(rows):  # runs of 5 rows of one user, 3 users taking turns
        row["distinct_id"] = f"user-{(index // 5) % 3}"
    bus = KafkaBus.from_settings()
    try:
        bus.check_health()

        async def publish() -> None:
            await asyncio.gather(*(bus.publish(rows[start : start + 100]) for start in range(0, 300, 100)))

        asyncio.run(publish())
    finally:
        bus.close()

    reader = Consumer(consumer_config("test-reader"))
    reader.assign([TopicPartition(topics.topic, partition, 0) for partition in partition_ids(topics.topic)])
    seen: dict[str, list[tuple[int, int]]] = {}
    received = 0
    try:
        while received < 300:
            batch = reader.consume(500, 5.0)
            assert batch, f"only {received} of 300 events arrived"
            for message in batch:
                lines = message.value().split(b"\n")
                # One message per run of one user's rows.
                assert len(lines) == 5
                for line in lines:
                    row = orjson.loads(line)
                    assert message.key() == f"9401:{row['distinct_id']}".encode()
                    seen.setdefault(row["distinct_id"], []).append(
                        (message.partition(), orjson.loads(row["properties"])["n"])
                    )
                    received += 1
    finally:
        reader.close()

    for distinct_id, placements in seen.items():
        assert len({partition for partition, _ in placements}) == 1, distinct_id
    # Within one request (rows n // 100), a user's events arrive in the order of the rows.
    for placements in seen.values():
        for request in range(3):
            numbers = [n for _, n in placements if n // 100 == request]
            assert numbers == sorted(numbers)
