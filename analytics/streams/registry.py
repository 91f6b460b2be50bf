"""The stream registry: each Kafka consumer by name, with its topic, group, dead-letter
topic, batching limits and processor (the Sentry pattern: one table says what runs).

``manage.py consume_events`` runs the ``events`` stream; another stream is a new entry
here and a processor module next to ``events.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings

from analytics.streams.batching import FlushGroup
from analytics.streams.dead_letters import DeadLetterProducer
from analytics.streams.events import EventsProcessor
from analytics.streams.intents import Intent


class BatchProcessor(Protocol):
    def intents(self, topic: str) -> dict[int, Intent]:
        """Batches the previous owners of the topic's partitions were writing."""

    def prepare(self, group: FlushGroup) -> None:
        """Work that may run ahead of the write, in another thread (decoding)."""

    def write(self, group: FlushGroup) -> object:
        """Write a group once; raise to have it retried (nothing is committed meanwhile)."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class StreamSpec:
    name: str
    topic_setting: str
    group_setting: str
    dead_letter_setting: str
    build: Callable[[StreamSpec], BatchProcessor]
    # A group is written when the buffered messages reach either size, or the oldest
    # has waited max_wait_seconds. While one group is being written the next fills up,
    # so under load the groups grow by themselves. Large on purpose: each partition batch
    # is one insert, and a chDB insert has a fixed CPU cost whatever its size, so larger
    # groups (in a backlog) and a longer wait (at live rates) spread it over more events;
    # the wait is latency every event pays (docs/pipeline.md).
    max_messages: int = 200_000
    max_bytes: int = 128 * 1024 * 1024
    max_wait_seconds: float = 1.0

    @property
    def topic(self) -> str:
        return str(getattr(settings, self.topic_setting))

    @property
    def group(self) -> str:
        return str(getattr(settings, self.group_setting))

    @property
    def dead_letter_topic(self) -> str:
        return str(getattr(settings, self.dead_letter_setting))


def _events_processor(spec: StreamSpec) -> BatchProcessor:
    dead_letters = DeadLetterProducer(spec.dead_letter_topic, spec.name, timeout=float(settings.KAFKA_PRODUCE_TIMEOUT))
    return EventsProcessor(stream=spec.name, group=spec.group, dead_letters=dead_letters)


STREAMS: dict[str, StreamSpec] = {
    "events": StreamSpec(
        name="events",
        topic_setting="KAFKA_EVENTS_TOPIC",
        group_setting="KAFKA_CONSUMER_GROUP",
        dead_letter_setting="KAFKA_DEAD_LETTER_TOPIC",
        build=_events_processor,
    ),
}


def get_stream(name: str) -> StreamSpec:
    try:
        return STREAMS[name]
    except KeyError:
        raise KeyError(f"unknown stream {name!r}; known: {', '.join(sorted(STREAMS))}") from None
