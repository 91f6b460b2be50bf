"""The events stream: Kafka messages of enriched events -> the event store.

Runs in the consumer's writer thread, one batch group at a time. For each partition
batch: decode (poison messages are set aside with a reason), write through
:func:`analytics.streams.sink.store_event_batch` with the batch's de-duplication
token, and send whatever can never be stored to the dead-letter topic. A transient
failure (store or dead-letter topic unavailable) raises, and the consumer retries the
same group later without committing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from analytics.core.logging import get_logger
from analytics.streams.batching import FlushGroup, PartitionBatch
from analytics.streams.dead_letters import DeadLetter, DeadLetterProducer
from analytics.streams.faults import fault_point
from analytics.streams.intents import Intent, IntentLog
from analytics.streams.kafka.wire import decode_batch, line_text
from analytics.streams.sink import store_event_batch
from analytics.warehouse.errors import StoreQueryError, StoreUnavailable
from analytics.warehouse.store import EVENTS_TABLE, EventStore, get_store

log = get_logger(__name__)


@dataclass
class WriteResult:
    """What one group write did: rows stored and dead letters by reason."""

    rows: int = 0
    nbytes: int = 0
    dead_letters: dict[str, int] = field(default_factory=dict)


def open_store() -> EventStore:
    """The store, or StoreUnavailable when it cannot be opened now.

    chDB refuses a data directory that another process still holds (for instance a
    consumer that was just killed and whose lock is not yet released): that is a passing
    condition for a consumer, which waits and tries again.
    """
    try:
        return get_store()
    except (RuntimeError, OSError) as error:
        raise StoreUnavailable(f"cannot open the event store: {str(error)[:300]}") from error


class EventsProcessor:
    """Writes event batches to the store; see the module docstring."""

    def __init__(self, *, stream: str, group: str, dead_letters: DeadLetterProducer) -> None:
        self.stream = stream
        self.group = group
        self.dead_letters = dead_letters
        self._intents: IntentLog | None = None

    def _intent_log(self) -> IntentLog:
        store = open_store()
        if self._intents is None or self._intents.store is not store:
            self._intents = IntentLog(store, self.group)
        return self._intents

    def intents(self, topic: str) -> dict[int, Intent]:
        """The batches the previous owners were writing (raises StoreUnavailable).

        Called after every assignment, before the first write: the moment to learn which
        events the previous owners stored, so their copies are recognised here too.
        """
        intents = self._intent_log().lookup(topic)
        open_store().stored_events.refresh(EVENTS_TABLE)
        return intents

    def prepare(self, group: FlushGroup) -> None:
        """Decode every batch of the group (in the consumer's decoder thread, ahead of the write).

        All batches are parsed in one call, so Arrow's reader has several blocks to spread
        over its threads, and the result is split back per partition batch.
        """
        pending = [batch for batch in group.batches if batch.decoded is None]
        if not pending:
            return
        values: list[bytes] = []
        bounds: list[tuple[int, int]] = []
        for batch in pending:
            start = len(values)
            values.extend(batch.values())
            bounds.append((start, len(values)))
        decoded = decode_batch(values)
        for batch, (start, end) in zip(pending, bounds, strict=True):
            batch.decoded = decoded.part(start, end)

    def write(self, group: FlushGroup) -> WriteResult:
        """Write every batch of ``group`` once; raise on a transient failure."""
        intents = self._intent_log()
        self.prepare(group)
        to_store = [batch for batch in group.batches if batch.decoded.table.num_rows]
        intents.record((batch.topic, batch.partition, batch.first_offset, batch.last_offset) for batch in to_store)
        fault_point("before_insert")

        result = WriteResult()
        letters: list[DeadLetter] = []
        for batch in group.batches:
            decoded = batch.decoded
            letters.extend(
                _letter(batch, rejected.index, rejected.reason, rejected.detail, rejected.line)
                for rejected in decoded.rejected
                if rejected.reason != "control"
            )
            if decoded.table.num_rows:
                stored, rejected_rows = self._store(decoded.table, batch.token)
                result.rows += stored
                result.nbytes += decoded.table.nbytes
                letters.extend(
                    _letter(batch, int(decoded.indices[row]), "store_rejected", detail, decoded.line_of(row))
                    for row, detail in rejected_rows
                )
        fault_point("after_insert")
        # One line per group: which offset ranges went in (the post-mortem of a lost event needs it).
        log.info(
            "stream.group.written",
            stream=self.stream,
            rows=result.rows,
            batches=[
                f"{batch.partition}:{batch.first_offset}-{batch.last_offset}/{len(batch.messages)}"
                for batch in group.batches
            ],
        )
        self.dead_letters.send(letters)
        for letter in letters:
            result.dead_letters[letter.reason] = result.dead_letters.get(letter.reason, 0) + 1
        return result

    def _store(self, table: pa.Table, token: str, start: int = 0) -> tuple[int, list[tuple[int, str]]]:
        """Insert; when the store rejects the rows for good, halve to find the rows it rejects.

        Sub-batches get tokens derived from the batch token and their row range, so a
        retry after a crash splits the same way and stays de-duplicated.
        """
        try:
            return store_event_batch(table, dedup_token=token), []
        except StoreQueryError as error:
            if table.num_rows == 1:
                log.warning("stream.row_rejected", stream=self.stream, token=token, error=str(error)[:300])
                return 0, [(start, str(error)[:300])]
        middle = table.num_rows // 2
        left_rows, left_rejected = self._store(table.slice(0, middle), f"{token}#{start}-{start + middle - 1}", start)
        right_rows, right_rejected = self._store(
            table.slice(middle), f"{token}#{start + middle}-{start + table.num_rows - 1}", start + middle
        )
        return left_rows + right_rows, left_rejected + right_rejected

    def close(self) -> None:
        self.dead_letters.close()


def _letter(batch: PartitionBatch, index: int, reason: str, detail: str, line: int | None) -> DeadLetter:
    """The dead letter of one event: its own line when its message carried several events.

    The other events of that message were stored, so only this one must go back on replay.
    """
    message = batch.messages[index]
    value = message.value() or b""
    original_line = line if line is not None and b"\n" in value else None
    value = line_text(value, line)
    return DeadLetter(
        topic=batch.topic,
        partition=batch.partition,
        offset=int(message.offset()),
        key=message.key(),
        value=value,
        reason=reason,
        detail=detail,
        line=original_line,
    )
