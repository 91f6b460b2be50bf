"""The dead-letter topic: messages that can never be stored, kept with the reason.

Each dead letter is the original key and value, with headers naming why and where it
came from, so an operator can read them, fix the cause, and send them back with
``manage.py replay_dead_letters``:

- ``dlq-reason``: ``undecodable`` | ``invalid_row`` | ``store_rejected``
- ``dlq-detail``: the error, shortened
- ``dlq-original-topic`` / ``dlq-original-partition`` / ``dlq-original-offset``
- ``dlq-stream``: the stream that gave up on it
- ``dlq-failed-at``: epoch milliseconds
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Producer

from analytics.core.logging import get_logger
from analytics.ingestion.kafka.config import producer_config
from analytics.ingestion.kafka.wire import REASON_HEADER
from analytics.warehouse.errors import StoreUnavailable

log = get_logger(__name__)

DETAIL_HEADER = "dlq-detail"
TOPIC_HEADER = "dlq-original-topic"
PARTITION_HEADER = "dlq-original-partition"
OFFSET_HEADER = "dlq-original-offset"
STREAM_HEADER = "dlq-stream"
FAILED_AT_HEADER = "dlq-failed-at"


class DeadLetterUnavailable(StoreUnavailable):
    """The dead-letter topic did not acknowledge; the batch is retried, not committed."""


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    reason: str
    detail: str = ""

    def headers(self, stream: str) -> list[tuple[str, bytes]]:
        return [
            (REASON_HEADER, self.reason.encode()),
            (DETAIL_HEADER, self.detail[:500].encode("utf-8", "replace")),
            (TOPIC_HEADER, self.topic.encode()),
            (PARTITION_HEADER, str(self.partition).encode()),
            (OFFSET_HEADER, str(self.offset).encode()),
            (STREAM_HEADER, stream.encode()),
            (FAILED_AT_HEADER, str(int(time.time() * 1000)).encode()),
        ]


class DeadLetterProducer:
    """Sends dead letters and waits for the broker's acknowledgement of every one."""

    def __init__(self, topic: str, stream: str, *, timeout: float) -> None:
        self.topic = topic
        self.stream = stream
        self.timeout = timeout
        self._producer: Producer | None = None

    def _get(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(producer_config(**{"client.id": f"analytics-{self.stream}-dead-letters",
                                                         "linger.ms": 0}))
        return self._producer

    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Produce and flush; raise DeadLetterUnavailable unless all were acknowledged."""
        if not letters:
            return
        producer = self._get()
        errors: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: object) -> None:
            if error is not None:
                errors.append(error)

        try:
            for letter in letters:
                producer.produce(self.topic, letter.value, letter.key, headers=letter.headers(self.stream),
                                 on_delivery=on_delivery)
        except (BufferError, KafkaException) as error:
            raise DeadLetterUnavailable(f"dead-letter topic refused a message: {error}") from error
        remaining = producer.flush(self.timeout)
        if remaining or errors:
            detail = errors[0].str() if errors else f"{remaining} not acknowledged within {self.timeout}s"
            raise DeadLetterUnavailable(f"dead-letter topic {self.topic!r}: {detail}")
        for letter in letters:
            log.warning("stream.dead_letter", stream=self.stream, reason=letter.reason, topic=letter.topic,
                        partition=letter.partition, offset=letter.offset, detail=letter.detail[:200])

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout)
            self._producer = None


def header_map(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Headers of a dead letter as text (last value wins)."""
    return {name: (value or b"").decode("utf-8", "replace") for name, value in headers or ()}
