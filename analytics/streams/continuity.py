"""Offset continuity for readers that commit what they read (``replay_dead_letters``).

Tansu (the broker of the tests and ``make e2e``) can answer a fetch at the log end with a
record batch appended after one that another producer's write has not finished; the
client then moves past the unfinished batch for good. A reader that commits after such
an answer skips those messages forever. :class:`OffsetContinuity` keeps, per partition,
the offset the next message must have; at a hole it seeks the partition back to the
first missing offset so the re-read fills it, and only a hole that re-reads keep
returning for ``accept_after`` seconds is passed as a real gap (compaction, transaction
markers). The events consumer applies the same rule inside its partition buffers
(``StreamConsumer._take_contiguous``); see docs/pipeline.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaException, TopicPartition

from analytics.core.logging import get_logger
from analytics.streams import metrics

log = get_logger(__name__)

_ACCEPT_AFTER = 10.0


def contiguous(
    messages: list[Any], expected: int | None, passes: Callable[[int, int], bool]
) -> tuple[list[Any], int | None]:
    """The messages that continue a partition from ``expected`` on, and the next expected offset.

    Messages before ``expected`` (the overlap of a re-read) are skipped. At a hole,
    ``passes(first_missing, found)`` decides: True passes the gap, False stops here (the
    caller has sought the partition back to ``first_missing``).
    """
    kept: list[Any] = []
    for message in messages:
        offset = message.offset()
        if expected is not None and offset < expected:
            continue
        if expected is not None and offset > expected and not passes(expected, offset):
            break
        kept.append(message)
        expected = offset + 1
    return kept, expected


class OffsetContinuity:
    """Per-partition expected offsets of one topic read by ``consumer``."""

    def __init__(self, consumer: Any, topic: str, *, stream: str, accept_after: float = _ACCEPT_AFTER) -> None:
        self.consumer = consumer
        self.topic = topic
        self.stream = stream
        self.accept_after = accept_after
        self.expected: dict[int, int] = {}
        self._gaps: dict[int, tuple[int, float]] = {}

    def assigned(self, partitions: list[int], *, timeout: float = 5.0) -> None:
        """Learn where each newly assigned partition resumes: its committed offset, or the
        log start when the group has none (a hole in the very first fetch is caught too)."""
        try:
            committed = self.consumer.committed([TopicPartition(self.topic, p) for p in partitions], timeout=timeout)
        except KafkaException as error:
            log.warning("stream.continuity_unknown", stream=self.stream, error=str(error)[:300])
            return
        for tp in committed:
            start = tp.offset
            if start < 0:
                try:
                    start, _ = self.consumer.get_watermark_offsets(
                        TopicPartition(self.topic, tp.partition), timeout=timeout
                    )
                except KafkaException:
                    continue
            if start >= 0:
                self.expected[tp.partition] = start

    def forget(self, partitions: list[int]) -> None:
        for partition in partitions:
            self.expected.pop(partition, None)
            self._gaps.pop(partition, None)

    def take(self, partition: int, messages: list[Any]) -> list[Any]:
        """The messages that continue ``partition`` without a hole (the rest are read again)."""

        def passes(missing: int, found: int) -> bool:
            if self._gap_accepted(partition, missing, found):
                return True
            self.consumer.seek(TopicPartition(self.topic, partition, missing))
            return False

        kept, expected = contiguous(messages, self.expected.get(partition), passes)
        if expected is not None:
            self.expected[partition] = expected
        return kept

    def _gap_accepted(self, partition: int, missing: int, found: int) -> bool:
        now = time.monotonic()
        seen = self._gaps.get(partition)
        if seen is None or seen[0] != missing:
            self._gaps[partition] = (missing, now)
            metrics.OFFSET_GAPS.labels(self.stream, "refetched").inc()
            log.warning(
                "stream.offset_gap",
                stream=self.stream,
                partition=partition,
                missing_from=missing,
                next_read=found,
                action="refetch",
            )
            return False
        if now - seen[1] < self.accept_after:
            return False
        self._gaps.pop(partition, None)
        metrics.OFFSET_GAPS.labels(self.stream, "accepted").inc()
        log.error(
            "stream.offset_gap_accepted",
            stream=self.stream,
            partition=partition,
            missing_from=missing,
            next_read=found,
            waited=round(now - seen[1], 1),
        )
        return True
