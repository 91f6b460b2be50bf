"""librdkafka configuration of our clients, and idempotent topic creation.

Every value that an operator may need to change comes from the environment through
``config/settings/base.py`` (``KAFKA_*``); the rest is chosen here and explained.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

from analytics.core.logging import get_logger

log = get_logger(__name__)

# lz4: the cheapest codec in CPU per byte, and the broker (Kafka or Tansu) stores it as sent.
COMPRESSION = "lz4"


def bootstrap_servers() -> str:
    servers = settings.KAFKA_BOOTSTRAP_SERVERS
    if not servers:
        raise KafkaException(KafkaError(KafkaError._INVALID_ARG, "KAFKA_BOOTSTRAP_SERVERS is not set"))
    return str(servers)


def producer_config(**overrides: Any) -> dict[str, Any]:
    """An idempotent, all-replicas-acknowledged producer tuned for throughput."""
    timeout_ms = int(settings.KAFKA_PRODUCE_TIMEOUT) * 1000
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers(),
        "client.id": "analytics-web",
        # Durability: the broker acknowledges only once every in-sync replica has the batch,
        # and idempotence keeps retries from writing a message twice or out of order.
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": COMPRESSION,
        # Throughput: wait up to 5 ms to fill batches of up to 1 MiB (many requests share one).
        # A request is answered after the acknowledgement, so a longer linger costs every
        # request that much latency: it saves the broker some CPU per event, but with a fixed
        # number of requests in flight it lowers one web process's rate (docs/pipeline.md).
        "linger.ms": 5,
        "batch.size": 1024 * 1024,
        "batch.num.messages": 10_000,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 512 * 1024,
        # A message not acknowledged within KAFKA_PRODUCE_TIMEOUT fails its delivery report,
        # so the API answers 503 instead of holding the request forever.
        "message.timeout.ms": timeout_ms,
        "request.timeout.ms": min(timeout_ms, 30_000),
        "socket.timeout.ms": min(timeout_ms, 30_000),
        # Java-compatible key hashing: other clients place the same key on the same partition.
        "partitioner": "murmur2_random",
    }
    config.update(overrides)
    return config


def consumer_config(group_id: str, **overrides: Any) -> dict[str, Any]:
    """A consumer group member that commits by hand after the store accepted a batch."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers(),
        "group.id": group_id,
        "client.id": "analytics-consumer",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        # The loop keeps polling while the store is down (partitions paused), so this only
        # trips on a hung process.
        "max.poll.interval.ms": 300_000,
        "fetch.max.bytes": 64 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        "queued.max.messages.kbytes": 128 * 1024,
        # A fetch waits up to 100 ms for 1 MiB: at live rates fewer, larger fetches (less CPU
        # in the consumer and the broker) for at most 100 ms of added latency.
        "fetch.wait.max.ms": 100,
        "fetch.min.bytes": 1024 * 1024,
        "statistics.interval.ms": 0,
    }
    config.update(overrides)
    return config


def admin_client() -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap_servers(), "socket.timeout.ms": 10_000})


def ensure_topics(topics: Iterable[str], *, partitions: int | None = None, timeout: float = 15.0) -> None:
    """Create the topics if they do not exist (idempotent: an existing topic is left alone)."""
    count = int(partitions or settings.KAFKA_PARTITIONS)
    admin = admin_client()
    names = list(dict.fromkeys(topics))
    existing = admin.list_topics(timeout=timeout).topics
    missing = [name for name in names if name not in existing]
    if not missing:
        return
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=count, replication_factor=-1) for name in missing],
        request_timeout=timeout,
    )
    for name, future in futures.items():
        try:
            future.result(timeout)
            log.info("kafka.topic.created", topic=name, partitions=count)
        except KafkaException as error:
            if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
