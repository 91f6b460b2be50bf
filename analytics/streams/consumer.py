"""The consumer loop shared by every stream: poll, batch, write, commit.

Threads: the main thread polls Kafka, cuts batches and commits offsets; one writer
thread writes a group of batches (decode + store insert + dead letters). While a group
is being written the next one fills, so decoding and inserting overlap with polling.

Guarantees:
- Offsets are committed (synchronously) only after the group's write succeeded.
- A transient failure (store down) pauses the partitions, keeps polling (so the member
  stays in the group), retries the same group with backoff, and resumes afterwards.
- On revocation the group in flight is finished and committed; everything else read
  from the revoked partitions is dropped and will be read again by the next owner.
- On stop (SIGTERM/SIGINT): the group in flight is finished and committed if it
  succeeds, anything else is abandoned uncommitted; then the member leaves the group.
- A fetch that skips offsets within a partition is read again from the first missing
  offset (a broker may answer at the log end past a batch still being written), so no
  commit ever passes a message that was not read.
- Each partition batch carries the token ``topic:partition:first-last``, and the range
  is recorded in the intent log before the write, so a repeat after a crash is a no-op.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from analytics.core.logging import get_logger
from analytics.streams import metrics
from analytics.streams.batching import FlushGroup, PartitionBuffer
from analytics.streams.continuity import contiguous
from analytics.streams.faults import fault_point
from analytics.streams.kafka.config import consumer_config, ensure_topics
from analytics.streams.registry import BatchProcessor, StreamSpec
from analytics.warehouse.errors import StoreUnavailable

log = get_logger(__name__)

_FORCED_BATCH_TIMEOUT = 30.0  # seconds to wait for the rest of a previous owner's batch
_LAG_INTERVAL = 2.0
# The end of a burst is written at once instead of after max_wait: nothing more is coming to
# share the insert's cost, so waiting only delays its events. "Ended" is no message for
# three times the fetch wait (``fetch.wait.max.ms``, 100 ms: gaps that long are normal at
# live rates); a trickle below the message floor keeps waiting max_wait, so a quiet
# project does not write one insert per event.
_BURST_END_SECONDS = 0.3
_BURST_END_MIN_MESSAGES = 1_000
_PROGRESS_INTERVAL = 10.0
# A hole in a partition's offsets that re-reads keep returning for this long is a real gap
# (compaction, transaction markers) rather than a batch the broker had not finished writing.
_GAP_ACCEPT_SECONDS = 10.0
_message_error = Message.error
_message_partition = Message.partition


@dataclass
class ConsumerStats:
    messages: int = 0
    rows: int = 0
    groups: int = 0
    retries: int = 0
    dead_letters: int = 0
    started_at: float = 0.0
    first_message_at: float = 0.0
    last_commit_at: float = 0.0

    @property
    def busy_rate(self) -> float:
        """Rows stored per second from the first message read to the last commit."""
        elapsed = self.last_commit_at - self.first_message_at
        return self.rows / elapsed if self.rows and elapsed > 0 else 0.0


class StreamConsumer:
    """Runs one stream until ``stop`` is set; see the module docstring."""

    def __init__(
        self,
        spec: StreamSpec,
        *,
        processor: BatchProcessor | None = None,
        stop: threading.Event | None = None,
        config: dict[str, Any] | None = None,
        max_messages: int | None = None,
        max_bytes: int | None = None,
        max_wait_seconds: float | None = None,
        exit_when_idle: float | None = None,
        shutdown_grace: float = 60.0,
        gap_accept_seconds: float = _GAP_ACCEPT_SECONDS,
        on_commit: Callable[[FlushGroup], None] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.topic = spec.topic
        self.processor = processor or spec.build(spec)
        self.stop = stop or threading.Event()
        self.max_messages = max_messages or spec.max_messages
        self.max_bytes = max_bytes or spec.max_bytes
        self.max_wait = spec.max_wait_seconds if max_wait_seconds is None else max_wait_seconds
        self.exit_when_idle = exit_when_idle
        self.shutdown_grace = shutdown_grace
        self.gap_accept_seconds = gap_accept_seconds
        self.on_commit = on_commit
        self.consumer = Consumer(consumer_config(spec.group, **(config or {})))
        self.buffers: dict[int, PartitionBuffer] = {}
        self.committed: dict[int, int] = {}
        self.inflight: tuple[FlushGroup, Future[Any]] | None = None
        self.retry_group: FlushGroup | None = None
        # The next group, cut and being decoded while the one in flight is written.
        self.prepared: FlushGroup | None = None
        self.retry_at = 0.0
        self.pause_reasons: set[str] = set()
        self.unresolved_since: float | None = None
        self.resolve_at = 0.0
        self.resolve_attempts = 0
        self.stats = ConsumerStats()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stream-{self.name}-writer")
        self._decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stream-{self.name}-decoder")
        self._last_message_at = time.monotonic()
        self._assigned_once = False
        self._last_lag = 0.0
        self._last_progress = 0.0

    # ------------------------------------------------------------------ run
    def run(self) -> ConsumerStats:
        """Consume until stopped; returns the counters. Raises only on a fatal Kafka error."""
        self._ensure_topics()
        self.consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        self.stats.started_at = time.monotonic()
        log.info("stream.started", stream=self.name, topic=self.topic, group=self.spec.group)
        try:
            while not self.stop.is_set():
                self._poll()
                self._collect()
                self._resolve()
                self._flush()
                self._backpressure()
                self._report()
                if self._idle_done():
                    log.info("stream.idle_exit", stream=self.name)
                    break
            self._finish_inflight(reason="stop")
        finally:
            self._close()
        return self.stats

    def _ensure_topics(self) -> None:
        """Create the topics if needed, waiting (with backoff) while the broker is unreachable."""
        delay = 0.5
        while not self.stop.is_set():
            try:
                ensure_topics([self.topic, self.spec.dead_letter_topic])
                return
            except KafkaException as error:
                log.warning("stream.broker_unreachable", stream=self.name, retry_in=delay, error=str(error)[:300])
                self.stop.wait(delay)
                delay = min(delay * 2, 30.0)

    def _poll(self) -> None:
        busy = (
            self.inflight is not None
            or self.prepared is not None
            or any(not buffer.empty for buffer in self.buffers.values())
        )
        messages = self.consumer.consume(num_messages=10_000, timeout=0.05 if busy else 0.25)
        if not messages:
            return
        self._last_message_at = time.monotonic()
        if not self.stats.first_message_at:
            self.stats.first_message_at = self._last_message_at
        # The hot path, in C loops: librdkafka hands out runs of one partition's messages,
        # so grouping the runs costs one C-level call per message, about half of what a
        # Python loop that also checked errors and summed sizes cost.
        if any(map(_message_error, messages)):
            for message in messages:
                error = message.error()
                if error is not None:
                    self._on_message_error(error)
            messages = [message for message in messages if message.error() is None]
        by_partition: dict[int, list[Any]] = {}
        for partition, run in itertools.groupby(messages, _message_partition):
            assert partition is not None  # a fetched message without an error has its partition
            bucket = by_partition.get(partition)
            if bucket is None:
                by_partition[partition] = list(run)
            else:
                bucket.extend(run)
        fault_point("fetched", by_partition)
        for partition, bucket in by_partition.items():
            buffer = self.buffers.get(partition)
            if buffer is None:  # revoked during this very poll
                continue
            expected = buffer.expected_offset
            first = bucket[0].offset()
            # The common case in O(1): the bucket continues the partition without a hole.
            if (expected is None or first == expected) and bucket[-1].offset() - first + 1 == len(bucket):
                buffer.extend(bucket, sum(map(len, bucket)))
                continue
            kept = self._take_contiguous(buffer, bucket)
            if kept:
                buffer.extend(kept, sum(len(message) for message in kept))

    def _take_contiguous(self, buffer: PartitionBuffer, bucket: list[Any]) -> list[Any]:
        """The messages of ``bucket`` that continue the partition without a hole.

        A fetch may return a partition's messages with offsets missing in between: Tansu
        (the broker of the tests and ``make e2e``) answers a fetch at the log end with a
        record batch appended after one that another producer's write has not finished,
        and the client then moves past the unfinished one for good. Committing after such
        a batch would skip the missing events forever: they were acknowledged to the API
        and are in the topic, but never read. So at a hole the partition is sought back to
        the first missing offset and read again. Only a hole that re-reads keep returning
        for ``gap_accept_seconds`` is taken as a real gap (a compacted topic, transaction
        markers) and passed, loudly.
        """

        def passes(missing: int, found: int) -> bool:
            if self._gap_accepted(buffer, missing, found):
                return True
            self.consumer.seek(TopicPartition(self.topic, buffer.partition, missing))
            return False

        return contiguous(bucket, buffer.expected_offset, passes)[0]

    def _gap_accepted(self, buffer: PartitionBuffer, missing: int, found: int) -> bool:
        """Whether to pass the offsets ``missing .. found-1`` (True only once re-reads kept skipping them)."""
        now = time.monotonic()
        if buffer.gap_offset != missing:
            buffer.gap_offset, buffer.gap_since = missing, now
            metrics.OFFSET_GAPS.labels(self.name, "refetched").inc()
            log.warning(
                "stream.offset_gap",
                stream=self.name,
                partition=buffer.partition,
                missing_from=missing,
                next_read=found,
                action="refetch",
            )
            return False
        if now - buffer.gap_since < self.gap_accept_seconds:
            return False
        buffer.gap_offset = None
        metrics.OFFSET_GAPS.labels(self.name, "accepted").inc()
        log.error(
            "stream.offset_gap_accepted",
            stream=self.name,
            partition=buffer.partition,
            missing_from=missing,
            next_read=found,
            waited=round(now - buffer.gap_since, 1),
        )
        return True

    def _on_message_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._PARTITION_EOF:
            return
        if error.fatal():
            raise KafkaException(error)
        log.warning("stream.kafka_error", stream=self.name, error=error.str())

    # ------------------------------------------------------------------ batching
    def _flush(self) -> None:
        """Cut the next group when due; decode it while the previous one is being written."""
        now = time.monotonic()
        if self.retry_group is not None:
            if self.inflight is None and now >= self.retry_at:
                self._submit(self.retry_group)
                self.retry_group = None
            return
        if self.prepared is None:
            ready = self._ready_buffers(now)
            if ready:
                group = FlushGroup([buffer.take() for buffer in ready])
                group.prepared = self._decoder.submit(self.processor.prepare, group)
                self.prepared = group
        if self.prepared is not None and self.inflight is None:
            group, self.prepared = self.prepared, None
            self._submit(group)

    def _ready_buffers(self, now: float) -> list[PartitionBuffer]:
        candidates: list[PartitionBuffer] = []
        messages = 0
        nbytes = 0
        due = False
        for buffer in self.buffers.values():
            if buffer.empty or not buffer.resolved:
                continue
            if buffer.forced_last_offset is not None:
                if buffer.forced_ready:
                    due = True
                elif now - buffer.started_at > _FORCED_BATCH_TIMEOUT:
                    log.warning(
                        "stream.intent_expired",
                        stream=self.name,
                        partition=buffer.partition,
                        expected_last=buffer.forced_last_offset,
                        buffered_last=buffer.last_offset,
                    )
                    buffer.forced_last_offset = None
                else:
                    continue
            candidates.append(buffer)
            messages += len(buffer)
            nbytes += buffer.nbytes
            if now - buffer.started_at >= self.max_wait:
                due = True
        if not candidates:
            return []
        if messages >= _BURST_END_MIN_MESSAGES and now - self._last_message_at >= _BURST_END_SECONDS:
            due = True
        if due or messages >= self.max_messages or nbytes >= self.max_bytes:
            return candidates
        return []

    def _submit(self, group: FlushGroup) -> None:
        group.attempts += 1
        self.inflight = (group, self._writer.submit(self._timed_write, group))

    def _timed_write(self, group: FlushGroup) -> Any:
        started = time.perf_counter()
        group.wait_prepared()
        result = self.processor.write(group)
        metrics.BATCH_LATENCY.labels(self.name).observe(time.perf_counter() - started)
        return result

    # ------------------------------------------------------------------ results and commits
    def _collect(self, *, wait: float | None = None) -> None:
        if self.inflight is None:
            return
        group, future = self.inflight
        if wait is None and not future.done():
            return
        try:
            result = future.result(timeout=wait)
        except TimeoutError:
            return
        except Exception as error:  # transient or unknown: never commit, retry later
            self.inflight = None
            self._schedule_retry(group, error)
            return
        self.inflight = None
        self._commit(group)
        self._account(group, result)
        if "store" in self.pause_reasons:
            log.info("stream.store_recovered", stream=self.name, attempts=group.attempts)
            self._set_paused("store", False)

    def _schedule_retry(self, group: FlushGroup, error: BaseException) -> None:
        cause = "store_unavailable" if isinstance(error, StoreUnavailable) else type(error).__name__
        metrics.RETRIES.labels(self.name, cause).inc()
        self.stats.retries += 1
        delay = min(30.0, 0.5 * 2 ** min(group.attempts - 1, 6)) * (0.8 + 0.4 * random.random())
        if isinstance(error, StoreUnavailable):
            log.warning(
                "stream.write_failed",
                stream=self.name,
                attempt=group.attempts,
                retry_in=round(delay, 2),
                error=str(error)[:300],
            )
        else:
            log.exception(
                "stream.write_failed",
                stream=self.name,
                attempt=group.attempts,
                retry_in=round(delay, 2),
                exc_info=error,
            )
        self.retry_group = group
        self.retry_at = time.monotonic() + delay
        self._set_paused("store", True)

    def _commit(self, group: FlushGroup) -> None:
        offsets = [
            TopicPartition(batch.topic, batch.partition, batch.next_offset)
            for batch in group.batches
            if batch.partition in self.buffers
        ]
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            # The rows are stored; whoever reads these messages again writes the same
            # batch (intent log + token), which the store drops. Nothing is lost.
            metrics.COMMITS.labels(self.name, "failed").inc()
            log.warning("stream.commit_failed", stream=self.name, error=str(error)[:300])
            return
        metrics.COMMITS.labels(self.name, "ok").inc()
        for offset in offsets:
            self.committed[offset.partition] = offset.offset
        self.stats.last_commit_at = time.monotonic()
        if self.on_commit is not None:
            self.on_commit(group)

    def _account(self, group: FlushGroup, result: Any) -> None:
        self.stats.groups += 1
        self.stats.messages += group.messages
        rows = getattr(result, "rows", 0)
        # A message may carry several events: count what was stored or set aside.
        metrics.EVENTS_PROCESSED.labels(self.name).inc(
            rows + sum((getattr(result, "dead_letters", None) or {}).values())
        )
        self.stats.rows += rows
        metrics.ROWS_INSERTED.labels(self.name).inc(rows)
        metrics.BYTES_INSERTED.labels(self.name).inc(getattr(result, "nbytes", 0))
        for reason, count in (getattr(result, "dead_letters", None) or {}).items():
            metrics.DEAD_LETTERS.labels(self.name, reason).inc(count)
            self.stats.dead_letters += count

    def _finish_inflight(self, *, reason: str) -> None:
        """Wait for the group in flight; commit it if it succeeded, else abandon it."""
        if self.inflight is not None:
            group, future = self.inflight
            try:
                result = future.result(timeout=self.shutdown_grace)
            except Exception as error:
                log.warning("stream.inflight_abandoned", stream=self.name, reason=reason, error=str(error)[:300])
                if reason != "stop":  # partitions that stay ours retry it (the revoked ones are dropped next)
                    self.retry_group = group
                    self.retry_at = time.monotonic()
            else:
                self._commit(group)
                self._account(group, result)
            self.inflight = None
        if reason == "stop":
            for pending in (self.retry_group, self.prepared):
                if pending is not None:
                    log.info("stream.group_abandoned", stream=self.name, messages=pending.messages)
            self.retry_group = None
            self.prepared = None

    # ------------------------------------------------------------------ pause / resume
    def _set_paused(self, reason: str, paused: bool) -> None:
        before = bool(self.pause_reasons)
        if paused:
            self.pause_reasons.add(reason)
        else:
            self.pause_reasons.discard(reason)
        after = bool(self.pause_reasons)
        if before == after:
            return
        partitions = [TopicPartition(self.topic, partition) for partition in self.buffers]
        try:
            if partitions:
                (self.consumer.pause if after else self.consumer.resume)(partitions)
        except KafkaException as error:
            log.warning("stream.pause_failed", stream=self.name, error=str(error)[:300])
        metrics.PAUSED.labels(self.name).set(1 if after else 0)
        log.info("stream.paused" if after else "stream.resumed", stream=self.name, reason=reason)

    def _backpressure(self) -> None:
        # Two groups' worth buffered (besides the group being written and the one being
        # decoded) keeps the writer busy; more would only cost memory.
        buffered = sum(len(buffer) for buffer in self.buffers.values())
        nbytes = sum(buffer.nbytes for buffer in self.buffers.values())
        full = buffered >= 2 * self.max_messages or nbytes >= 2 * self.max_bytes
        if full != ("backlog" in self.pause_reasons):
            self._set_paused("backlog", full)

    # ------------------------------------------------------------------ rebalances
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels(self.name, "assign").inc()
        for tp in partitions:
            self.buffers[tp.partition] = PartitionBuffer(tp.topic, tp.partition)
        if self.pause_reasons:
            consumer.pause(partitions)
        self._assigned_once = True
        self._last_message_at = time.monotonic()
        self.resolve_at = 0.0
        self.resolve_attempts = 0
        log.info("stream.assigned", stream=self.name, partitions=[tp.partition for tp in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels(self.name, "revoke").inc()
        revoked = {tp.partition for tp in partitions}
        # Finish what is being written and commit it while the partitions are still ours.
        self._finish_inflight(reason="revoke")
        self._drop(revoked)
        log.info("stream.revoked", stream=self.name, partitions=sorted(revoked))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        metrics.REBALANCES.labels(self.name, "lost").inc()
        lost = {tp.partition for tp in partitions}
        # No commit is possible any more; the writes in flight are harmless repeats for the next owner.
        if self.inflight is not None:
            try:
                self.inflight[1].result(timeout=self.shutdown_grace)
            except Exception as error:
                log.warning("stream.inflight_abandoned", stream=self.name, reason="lost", error=str(error)[:300])
            self.inflight = None
        self._drop(lost)
        log.warning("stream.lost", stream=self.name, partitions=sorted(lost))

    def _drop(self, partitions: set[int]) -> None:
        if self.retry_group is not None:
            self.retry_group.drop_partitions(partitions)
            if not self.retry_group.batches:
                self.retry_group = None
        if self.prepared is not None:
            self.prepared.drop_partitions(partitions)
            if not self.prepared.batches:
                self.prepared = None
        for partition in partitions:
            self.buffers.pop(partition, None)
            self.committed.pop(partition, None)
            metrics.CONSUMER_LAG.labels(self.name, str(partition)).set(0)

    def _resolve(self) -> None:
        """Read the intent log for newly assigned partitions (retrying while the store is down)."""
        pending = [buffer for buffer in self.buffers.values() if not buffer.resolved]
        if not pending or time.monotonic() < self.resolve_at:
            return
        try:
            intents = self.processor.intents(self.topic)
            committed = self.consumer.committed([TopicPartition(self.topic, b.partition) for b in pending], timeout=5)
            # A partition the group never committed is read from its earliest offset
            # (auto.offset.reset): the low watermark is where reading starts, so a first
            # fetch that already skipped offsets there is caught too (Tansu, see
            # _take_contiguous: the group's very first batches race the producers').
            earliest = {
                tp.partition: self.consumer.get_watermark_offsets(TopicPartition(self.topic, tp.partition), timeout=5)[
                    0
                ]
                for tp in committed
                if tp.offset < 0
            }
        except (StoreUnavailable, KafkaException) as error:
            self.resolve_attempts += 1
            delay = min(30.0, 0.5 * 2 ** min(self.resolve_attempts - 1, 6))
            self.resolve_at = time.monotonic() + delay
            metrics.RETRIES.labels(self.name, "intent_lookup").inc()
            log.warning("stream.resolve_failed", stream=self.name, retry_in=delay, error=str(error)[:300])
            return
        for tp in committed:
            if tp.offset >= 0:
                self.committed[tp.partition] = tp.offset
        starts = {tp.partition: tp.offset for tp in committed if tp.offset >= 0}
        starts.update({partition: low for partition, low in earliest.items() if low >= 0})
        for buffer in pending:
            start = starts.get(buffer.partition)
            if start is not None and not buffer.messages:
                buffer.expected_offset = start
            elif (
                start is not None
                and buffer.messages[0].offset() > start
                # The first fetch after the assignment already skipped offsets (see _take_contiguous).
                and not self._gap_accepted(buffer, start, int(buffer.messages[0].offset()))
            ):
                buffer.restart_at(start)
                self.consumer.seek(TopicPartition(self.topic, buffer.partition, start))
            intent = intents.get(buffer.partition)
            if intent is not None:
                buffer.apply_intent(intent.first_offset, intent.last_offset)
                log.info(
                    "stream.intent_found",
                    stream=self.name,
                    partition=buffer.partition,
                    first=intent.first_offset,
                    last=intent.last_offset,
                    applies=buffer.forced_last_offset is not None,
                )
            buffer.resolved = True

    # ------------------------------------------------------------------ lag, progress, exit
    def _report(self) -> None:
        now = time.monotonic()
        if now - self._last_lag >= _LAG_INTERVAL:
            self._last_lag = now
            for partition in list(self.buffers):
                try:
                    _, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, partition), cached=True)
                except KafkaException:
                    continue
                committed = self.committed.get(partition, 0)
                metrics.CONSUMER_LAG.labels(self.name, str(partition)).set(max(high - committed, 0) if high >= 0 else 0)
        if now - self._last_progress >= _PROGRESS_INTERVAL:
            self._last_progress = now
            elapsed = max(now - self.stats.started_at, 1e-9)
            log.info(
                "stream.progress",
                stream=self.name,
                messages=self.stats.messages,
                rows=self.stats.rows,
                dead_letters=self.stats.dead_letters,
                retries=self.stats.retries,
                rate=round(self.stats.rows / elapsed, 1),
                paused=sorted(self.pause_reasons),
            )

    def _idle_done(self) -> bool:
        if self.exit_when_idle is None or self.inflight is not None or self.retry_group is not None:
            return False
        if self.prepared is not None:
            return False
        if not self._assigned_once:
            return False
        if any(not buffer.empty for buffer in self.buffers.values()):
            return False
        return time.monotonic() - self._last_message_at >= self.exit_when_idle

    def _close(self) -> None:
        try:
            self.consumer.close()  # leaves the group (revocation runs; nothing is in flight now)
        except (KafkaException, RuntimeError) as error:
            log.warning("stream.close_failed", stream=self.name, error=str(error)[:300])
        self._writer.shutdown(wait=True)
        self._decoder.shutdown(wait=True)
        self.processor.close()
        elapsed = max(time.monotonic() - self.stats.started_at, 1e-9)
        log.info(
            "stream.stopped",
            stream=self.name,
            messages=self.stats.messages,
            rows=self.stats.rows,
            dead_letters=self.stats.dead_letters,
            retries=self.stats.retries,
            rate=round(self.stats.rows / elapsed, 1),
        )
