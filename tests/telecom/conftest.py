"""Helpers of the telecom tests: the provider's example message, reading stored actions."""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from analytics.ingestion.network_stream import STREAM_NAME
from analytics.streams.consumer import StreamConsumer
from analytics.streams.drain import committed_offsets, partition_ids, send_drain_markers, wait_until_drained
from analytics.streams.kafka.config import consumer_config, ensure_topics, producer_config
from analytics.streams.registry import get_stream
from analytics.warehouse.guard import Query

EXAMPLE: dict[str, Any] = {
    "event_id": "550e8400-e29b-41d4-a716-446655440000",
    "source_id": "provider-1",
    "user_id": "123456789",
    "type": "CALL_OUT",
    "started_at": "2025-10-20T12:34:56Z",
    "ended_at": "2025-10-20T12:56:00Z",
    "duration_sec": 127,
    "bytes_up": 0,
    "bytes_down": 0,
    "meta": {"cell": "A1"},
}


def example(**changes: Any) -> dict[str, Any]:
    message = copy.deepcopy(EXAMPLE)
    for name, value in changes.items():
        if value is ...:
            message.pop(name, None)
        else:
            message[name] = value
    return message


def stored_actions(store: Any, project_id: int) -> list[dict[str, Any]]:
    sql = (
        "SELECT toString(event_id) AS event_id, source_id, event, distinct_id, properties, lib,"
        " toUnixTimestamp64Milli(timestamp) AS ts_ms FROM events WHERE project_id = {project_id:UInt64}"
        " ORDER BY timestamp, event_id, source_id"
    )
    return store.query(Query(name="test.telecom.stored", sql=sql, params={"project_id": project_id})).dicts()


@pytest.fixture
def old_project(project: Any) -> Any:
    """The member's project, keeping ten years (the example message is from 2025)."""
    project.retention_days = 3650
    project.save(update_fields=["retention_days"])
    return project


@pytest.fixture
def telecom_topics(settings: Any, kafka_broker: Any, old_project: Any) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    names = {"topic": f"events.telecom-{suffix}", "dead": f"events.telecom-dlq-{suffix}", "group": f"tg-{suffix}"}
    settings.KAFKA_BOOTSTRAP_SERVERS = kafka_broker.bootstrap_servers
    settings.TELECOM_KAFKA_TOPIC = names["topic"]
    settings.TELECOM_DEAD_LETTER_TOPIC = names["dead"]
    settings.TELECOM_CONSUMER_GROUP = names["group"]
    settings.TELECOM_PROJECT_ID = old_project.id
    settings.KAFKA_PRODUCE_TIMEOUT = 3
    ensure_topics([names["topic"], names["dead"]], partitions=3)
    return names


def publish(topic: str, messages: list[Any]) -> None:
    """As providers publish: one message per action, keyed by user_id."""
    producer = Producer(producer_config())
    for message in messages:
        value = message if isinstance(message, bytes) else orjson.dumps(message)
        key = message.get("user_id", "") if isinstance(message, dict) else ""
        producer.produce(topic, value, str(key).encode())
    assert producer.flush(10) == 0


@contextmanager
def running_stream() -> Iterator[StreamConsumer]:
    stop = threading.Event()
    consumer = StreamConsumer(
        get_stream(STREAM_NAME), stop=stop, config={"session.timeout.ms": 6000}, max_wait_seconds=0.2
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []


def drain(names: dict[str, str]) -> None:
    targets = send_drain_markers(names["topic"])
    with running_stream():
        assert wait_until_drained(names["group"], names["topic"], targets, timeout=120)


def where_lost(names: dict[str, str], lost_ids: list[str]) -> str:
    """Where actions the store lacks are: in the topic (partition, offset) or not, and the
    group's committed offsets against each partition's end, and the dead letters' reasons.
    A failed zero-loss check prints this, to tell a broker that lost messages from a
    consumer that skipped or dead-lettered them."""
    wanted = set(lost_ids)
    reader = Consumer(consumer_config(f"telecom-diagnosis-{uuid.uuid4().hex[:8]}"))
    partitions = partition_ids(names["topic"])
    ends = {}
    found: dict[str, tuple[int, int]] = {}
    try:
        for partition in partitions:
            ends[partition] = reader.get_watermark_offsets(TopicPartition(names["topic"], partition), timeout=10)[1]
        reader.assign([TopicPartition(names["topic"], partition, 0) for partition in partitions])
        while batch := reader.consume(500, 3.0):
            for message in batch:
                if message.error() is not None:
                    continue
                try:
                    event_id = orjson.loads(message.value() or b"{}").get("event_id")
                except orjson.JSONDecodeError:
                    continue
                if event_id in wanted:
                    found[event_id] = (message.partition() or 0, message.offset() or 0)
        letters = 0
        reader.assign([TopicPartition(names["dead"], partition, 0) for partition in partition_ids(names["dead"])])
        while batch := reader.consume(500, 2.0):
            letters += sum(1 for message in batch if message.error() is None)
    finally:
        reader.close()
    committed = committed_offsets(names["group"], names["topic"], partitions)
    return (
        f"{len(found)} of {len(wanted)} lost ids are in the topic at {sorted(found.values())};"
        f" partition ends {ends}, group committed {committed}; dead letters: {letters}"
    )
