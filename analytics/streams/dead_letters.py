"""The dead-letter topic: messages that can never be stored, kept with the reason.

Each dead letter is the original key and value, with headers naming why and where it
came from, so an operator can read them, fix the cause, and send them back with
``manage.py replay_dead_letters``:

- ``dlq-reason``: ``undecodable`` | ``invalid_row`` | ``store_rejected``
- ``dlq-detail``: the error, shortened
- ``dlq-original-topic`` / ``dlq-original-partition`` / ``dlq-original-offset``
- ``dlq-original-line``: only when the original message carried several events; the dead
  letter's value is then that one event's line (the others were stored)
- ``dlq-stream``: the stream that gave up on it
- ``dlq-failed-at``: epoch milliseconds
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from analytics.core.logging import get_logger
from analytics.streams.continuity import OffsetContinuity
from analytics.streams.faults import fault_point
from analytics.streams.kafka.config import consumer_config, producer_config
from analytics.streams.kafka.wire import REASON_HEADER
from analytics.warehouse.errors import StoreUnavailable

log = get_logger(__name__)

DETAIL_HEADER = "dlq-detail"
TOPIC_HEADER = "dlq-original-topic"
PARTITION_HEADER = "dlq-original-partition"
OFFSET_HEADER = "dlq-original-offset"
LINE_HEADER = "dlq-original-line"
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
    line: int | None = None

    def headers(self, stream: str) -> list[tuple[str, str | bytes | None]]:
        # Typed as Producer.produce takes them (its stubs want exactly this list type).
        headers: list[tuple[str, str | bytes | None]] = [
            (REASON_HEADER, self.reason.encode()),
            (DETAIL_HEADER, self.detail[:500].encode("utf-8", "replace")),
            (TOPIC_HEADER, self.topic.encode()),
            (PARTITION_HEADER, str(self.partition).encode()),
            (OFFSET_HEADER, str(self.offset).encode()),
            (STREAM_HEADER, stream.encode()),
            (FAILED_AT_HEADER, str(int(time.time() * 1000)).encode()),
        ]
        if self.line is not None:
            headers.append((LINE_HEADER, str(self.line).encode()))
        return headers


class DeadLetterProducer:
    """Sends dead letters and waits for the broker's acknowledgement of every one."""

    def __init__(self, topic: str, stream: str, *, timeout: float) -> None:
        self.topic = topic
        self.stream = stream
        self.timeout = timeout
        self._producer: Producer | None = None

    def _get(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(
                producer_config(**{"client.id": f"analytics-{self.stream}-dead-letters", "linger.ms": 0})
            )
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
                producer.produce(
                    self.topic, letter.value, letter.key, headers=letter.headers(self.stream), on_delivery=on_delivery
                )
        except (BufferError, KafkaException) as error:
            raise DeadLetterUnavailable(f"dead-letter topic refused a message: {error}") from error
        remaining = producer.flush(self.timeout)
        if remaining or errors:
            detail = errors[0].str() if errors else f"{remaining} not acknowledged within {self.timeout}s"
            raise DeadLetterUnavailable(f"dead-letter topic {self.topic!r}: {detail}")
        for letter in letters:
            log.warning(
                "stream.dead_letter",
                stream=self.stream,
                reason=letter.reason,
                topic=letter.topic,
                partition=letter.partition,
                offset=letter.offset,
                detail=letter.detail[:200],
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(self.timeout)
            self._producer = None


def header_map(headers: Sequence[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Headers of a dead letter as text (last value wins)."""
    return {name: (value or b"").decode("utf-8", "replace") for name, value in headers or ()}


@dataclass
class ReplayResult:
    replayed: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


def replay_dead_letters(
    *,
    dead_letter_topic: str,
    target_topic: str,
    group: str,
    limit: int | None = None,
    idle_timeout: float = 5.0,
    dry_run: bool = False,
    timeout: float = 10.0,
    config: dict[str, object] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Send dead letters back to the topic they came from, then commit them as replayed.

    Reads ``dead_letter_topic`` as consumer group ``group`` (so a second run continues
    after the first), produces each original key and value to its original topic (or
    ``target_topic``), waits for the broker's acknowledgement, and only then commits.
    ``dry_run`` counts by reason and commits nothing. Stops after ``idle_timeout``
    seconds without a message, or after ``limit`` messages. ``progress`` is called with the
    running count after each batch.
    """
    consumer = Consumer(consumer_config(group, **(config or {})))
    producer = None if dry_run else Producer(producer_config(**{"client.id": "analytics-dead-letter-replay"}))
    # A fetch that skips offsets is read again (see OffsetContinuity): committing after it
    # would pass dead letters that were never replayed.
    continuity = OffsetContinuity(consumer, dead_letter_topic, stream="dead-letter-replay")
    # The idle clock starts at the assignment: joining the group takes a few seconds.
    assigned = {"at": 0.0}

    def on_assign(_consumer: Any, partitions: list[Any]) -> None:
        assigned["at"] = time.monotonic()
        continuity.assigned([tp.partition for tp in partitions])

    def on_revoke(_consumer: Any, partitions: list[Any]) -> None:
        continuity.forget([tp.partition for tp in partitions])

    consumer.subscribe([dead_letter_topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_revoke)
    result = ReplayResult()
    by_reason = result.by_reason
    started = time.monotonic()
    last_message = 0.0
    try:
        while limit is None or result.replayed < limit:
            want = 500 if limit is None else min(500, limit - result.replayed)
            messages = _contiguous(consumer.consume(want, 0.5), continuity)
            if not messages:
                now = time.monotonic()
                quiet_since = max(last_message, assigned["at"])
                if (assigned["at"] and now - quiet_since >= idle_timeout) or now - started >= idle_timeout + 60:
                    break
                continue
            last_message = time.monotonic()
            for message in messages:
                headers = header_map(message.headers())
                reason = headers.get(REASON_HEADER, "unknown")
                by_reason[reason] = by_reason.get(reason, 0) + 1
                if producer is not None:
                    producer.produce(
                        headers.get(TOPIC_HEADER) or target_topic,
                        message.value(),
                        message.key(),
                        headers=[("dlq-replayed-from", f"{message.partition()}:{message.offset()}".encode())],
                    )
            if producer is not None:
                remaining = producer.flush(timeout)
                if remaining:
                    raise DeadLetterUnavailable(f"{remaining} replayed messages not acknowledged; nothing committed")
                last = {}
                for message in messages:
                    last[message.partition()] = message.offset()
                consumer.commit(
                    offsets=[
                        TopicPartition(dead_letter_topic, partition, offset + 1) for partition, offset in last.items()
                    ],
                    asynchronous=False,
                )
            result.replayed += len(messages)
            if progress is not None:
                progress(result.replayed)
    finally:
        consumer.close()
    log.info("stream.dead_letters_replayed", replayed=result.replayed, by_reason=by_reason, dry_run=dry_run)
    return result


def _contiguous(messages: list[Any], continuity: Any) -> list[Any]:
    """The fetched messages that continue their partitions without a hole, in fetch order per partition."""
    by_partition: dict[int, list[Any]] = {}
    for message in messages:
        if message.error() is None:
            by_partition.setdefault(message.partition(), []).append(message)
    fault_point("fetched", by_partition)
    return [message for partition, bucket in by_partition.items() for message in continuity.take(partition, bucket)]
