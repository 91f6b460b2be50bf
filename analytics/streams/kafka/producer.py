"""The Kafka event bus: the scale-mode implementation of ``EventBus``.

``publish`` produces a request's rows and returns only when the broker has acknowledged
every one of them (``acks=all``, idempotent producer). Consecutive rows of one user
(project and distinct id, the message key) travel in one message (``wire.encode_messages``).
The wait is an asyncio future that a delivery callback resolves: a single background thread calls ``producer.poll`` (which
runs the callbacks), so no worker thread is held per request. Any failure (local queue
full, broker down, message timed out, fatal producer error) raises ``BusUnavailable``:
the API answers 503 with ``Retry-After`` and never reports an unacknowledged event as accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from django.conf import settings

from analytics.core.logging import get_logger
from analytics.streams.errors import BusUnavailable
from analytics.streams.kafka import metrics
from analytics.streams.kafka.config import ensure_topics, producer_config
from analytics.streams.kafka.wire import encode_messages

log = get_logger(__name__)

RETRY_AFTER_SECONDS = 5


class _Delivery:
    """Counts the delivery reports of one publish call and resolves its future once."""

    __slots__ = ("abandoned", "error", "future", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop, future: asyncio.Future[None], pending: int) -> None:
        self.loop = loop
        self.future = future
        self.pending = pending
        self.error: KafkaError | None = None
        self.abandoned = False

    def __call__(self, error: KafkaError | None, _message: Message) -> None:
        # Runs in the poll thread only (nothing else calls producer.poll), so no lock is needed.
        if error is not None and self.error is None:
            self.error = error
        self.pending -= 1
        if self.pending == 0 and not self.abandoned:
            with contextlib.suppress(RuntimeError):  # the caller's loop is gone (it stopped waiting)
                self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if self.future.done():
            return
        if self.error is None:
            self.future.set_result(None)
        else:
            self.future.set_exception(_unavailable(self.error))


def _unavailable(error: KafkaError) -> BusUnavailable:
    return BusUnavailable(
        "the event bus did not acknowledge the events; retry later",
        retry_after=RETRY_AFTER_SECONDS,
        extra={"bus_error": error.name()},
    )


class KafkaBus:
    """Produces event rows to the events topic; see the module docstring."""

    def __init__(self, config: Mapping[str, Any], *, topic: str, timeout: float) -> None:
        self.topic = topic
        self.timeout = timeout
        self._config = dict(config)
        self._config.setdefault("error_cb", self._on_error)
        self._producer = Producer(self._config)
        self._closed = threading.Event()
        self._fatal: KafkaError | None = None
        self._last_unreachable_log = 0.0
        self._poller = threading.Thread(target=self._poll_loop, name="kafka-producer-poll", daemon=True)
        self._poller.start()

    @classmethod
    def from_settings(cls) -> KafkaBus:
        """The bus for ``KAFKA_*`` settings; creates the topics when the broker lacks them."""
        topic = settings.KAFKA_EVENTS_TOPIC
        try:
            ensure_topics([topic, settings.KAFKA_DEAD_LETTER_TOPIC], timeout=settings.KAFKA_PRODUCE_TIMEOUT)
        except KafkaException as error:
            # The broker may be down at start; producing will fail (503) until it is back,
            # and the broker's own auto-creation or the consumer creates the topics then.
            log.warning("kafka.topics.not_ensured", error=str(error)[:300])
        return cls(producer_config(), topic=topic, timeout=float(settings.KAFKA_PRODUCE_TIMEOUT))

    # ------------------------------------------------------------------ background
    def _poll_loop(self) -> None:
        while not self._closed.is_set():
            try:
                self._producer.poll(0.1)
                metrics.PRODUCER_QUEUE.set(len(self._producer))
            except Exception as error:  # the thread must outlive a failing callback
                log.exception("kafka.producer.poll_failed", error=str(error)[:300])
                time.sleep(0.1)

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self._fatal = error
            log.error("kafka.producer.fatal", error=error.str())
        elif error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT):
            # librdkafka reports every reconnect attempt; one line per 10 s is enough.
            now = time.monotonic()
            if now - self._last_unreachable_log >= 10:
                self._last_unreachable_log = now
                log.warning("kafka.producer.broker_unreachable", error=error.str())

    # ------------------------------------------------------------------ EventBus
    async def publish(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Return once the broker acknowledged every row; raise BusUnavailable otherwise."""
        if not rows:
            return
        if self._closed.is_set():
            raise BusUnavailable("the event bus is shutting down; retry later", retry_after=RETRY_AFTER_SECONDS)
        if self._fatal is not None:
            metrics.PUBLISH_FAILURES.labels(reason="fatal").inc()
            raise _unavailable(self._fatal)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        messages = encode_messages(rows)
        delivery = _Delivery(loop, future, len(messages))
        started = time.perf_counter()
        queued = self._produce(messages, delivery)
        if queued < len(rows):
            # Queue full: the messages already queued are delivered or fail on their own,
            # but this request is answered 503 and the client sends the whole batch again
            # (event ids make the resend harmless).
            delivery.abandoned = True
            metrics.PUBLISH_FAILURES.labels(reason="queue_full").inc()
            metrics.PRODUCED_EVENTS.labels(topic=self.topic, result="queue_full").inc(len(rows) - queued)
            raise BusUnavailable("the event bus is saturated; retry later", retry_after=1)
        try:
            # message.timeout.ms bounds each delivery report; this only guards against a lost callback.
            await asyncio.wait_for(asyncio.shield(future), timeout=self.timeout + 5)
        except TimeoutError:
            metrics.PUBLISH_FAILURES.labels(reason="timeout").inc()
            metrics.PRODUCED_EVENTS.labels(topic=self.topic, result="timeout").inc(len(rows))
            raise BusUnavailable(
                "the event bus did not answer in time; retry later", retry_after=RETRY_AFTER_SECONDS
            ) from None
        except BusUnavailable:
            metrics.PUBLISH_FAILURES.labels(reason="delivery_failed").inc()
            metrics.PRODUCED_EVENTS.labels(topic=self.topic, result="failed").inc(len(rows))
            log.warning("kafka.publish.failed", events=len(rows), error=delivery.error.str() if delivery.error else "")
            raise
        metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)
        metrics.PRODUCED_EVENTS.labels(topic=self.topic, result="ok").inc(len(rows))

    def _produce(self, messages: Sequence[tuple[bytes, bytes, int]], delivery: _Delivery) -> int:
        """Hand the messages to librdkafka; returns how many events were queued before the queue filled."""
        produce = self._producer.produce
        topic = self.topic
        queued = 0
        for key, value, events in messages:
            try:
                produce(topic, value, key, on_delivery=delivery)
            except BufferError:
                return queued
            except KafkaException as error:
                log.warning("kafka.produce.refused", error=str(error)[:300])
                return queued
            queued += events
        return queued

    def produce_sync(self, rows: Sequence[Mapping[str, Any]], *, timeout: float | None = None) -> None:
        """Blocking publish for code outside an event loop (management commands, tests)."""

        async def run() -> None:
            await asyncio.wait_for(self.publish(rows), timeout)

        asyncio.run(run())

    def check_health(self) -> None:
        """Raise BusUnavailable when no broker answers a metadata request within 2 s."""
        if self._fatal is not None:
            raise _unavailable(self._fatal)
        try:
            metadata = self._producer.list_topics(self.topic, timeout=2)
        except KafkaException as error:
            raise BusUnavailable(f"Kafka metadata request failed: {error}", retry_after=RETRY_AFTER_SECONDS) from error
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None:
            raise BusUnavailable(f"topic {self.topic!r} is not available", retry_after=RETRY_AFTER_SECONDS)

    def close(self) -> None:
        """Deliver what is queued (bounded by the produce timeout), then stop the poll thread."""
        if self._closed.is_set():
            return
        remaining = self._producer.flush(self.timeout)
        self._closed.set()
        self._poller.join(timeout=2)
        if remaining:
            log.warning("kafka.producer.closed_with_pending", pending=remaining)
