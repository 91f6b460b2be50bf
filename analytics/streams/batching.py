"""Batches of Kafka messages, one per partition, and the groups written together.

A batch is a contiguous run of one partition's messages. Its de-duplication token is
``topic:partition:first-last``: the same messages always form the same token, so a batch
written again after a crash (or a retry) is dropped by ClickHouse instead of stored twice.

The poll loop does as little per message as it can (it is the consumer's hot path): it
appends the message object to its partition's buffer and adds its size. Values, keys
and offsets are read from the messages by the writer thread.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PartitionBatch:
    """Contiguous messages of one partition."""

    topic: str
    partition: int
    messages: list[Any]
    nbytes: int = 0
    # Filled by the processor and kept across retries so decoding happens once.
    decoded: Any = None

    @property
    def first_offset(self) -> int:
        return int(self.messages[0].offset())

    @property
    def last_offset(self) -> int:
        return int(self.messages[-1].offset())

    @property
    def token(self) -> str:
        return f"{self.topic}:{self.partition}:{self.first_offset}-{self.last_offset}"

    @property
    def next_offset(self) -> int:
        """The offset to commit once this batch is written."""
        return self.last_offset + 1

    def values(self) -> list[bytes]:
        return [message.value() or b"" for message in self.messages]


@dataclass
class PartitionBuffer:
    """Messages of one partition that are read but not yet handed to a batch."""

    topic: str
    partition: int
    messages: list[Any] = field(default_factory=list)
    nbytes: int = 0
    started_at: float = 0.0
    # From the intent log: cut the first batch exactly where the previous owner did.
    forced_last_offset: int | None = None
    resolved: bool = False
    _intent: tuple[int, int] | None = None
    _first_after_assign: int | None = None
    # The offset the next message read must have (None until known): a fetch that skips
    # offsets is refetched instead of being buffered (see StreamConsumer._take_contiguous).
    expected_offset: int | None = None
    # A skip being refetched: its first missing offset and when it was first seen.
    gap_offset: int | None = None
    gap_since: float = 0.0

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def empty(self) -> bool:
        return not self.messages

    @property
    def last_offset(self) -> int | None:
        return int(self.messages[-1].offset()) if self.messages else None

    def extend(self, messages: list[Any], nbytes: int) -> None:
        if not self.messages:
            self.started_at = time.monotonic()
            if self._first_after_assign is None:
                self._first_after_assign = int(messages[0].offset())
                self._check_intent()
        self.messages.extend(messages)
        self.nbytes += nbytes
        self.expected_offset = int(messages[-1].offset()) + 1

    def restart_at(self, offset: int) -> None:
        """Forget what is buffered: reading starts again at ``offset`` (a skip at the start)."""
        self.messages = []
        self.nbytes = 0
        self._first_after_assign = None
        self.expected_offset = offset

    def apply_intent(self, first_offset: int, last_offset: int) -> None:
        """Cut the first batch at ``last_offset`` if this partition resumes at ``first_offset``."""
        self._intent = (first_offset, last_offset)
        if self._first_after_assign is not None:
            self._check_intent()

    def _check_intent(self) -> None:
        if self._intent is not None and self._first_after_assign == self._intent[0] and self.messages_start_fresh():
            self.forced_last_offset = self._intent[1]
        self._intent = None

    def messages_start_fresh(self) -> bool:
        """True while the buffer still begins with the first message read after assignment."""
        return not self.messages or int(self.messages[0].offset()) == self._first_after_assign

    @property
    def forced_ready(self) -> bool:
        """The buffer reaches the end of the previous owner's batch."""
        last = self.last_offset
        return self.forced_last_offset is not None and last is not None and last >= self.forced_last_offset

    def take(self) -> PartitionBatch:
        """Cut a batch: everything buffered, or exactly the previous owner's intended batch."""
        count = len(self.messages)
        if self.forced_last_offset is not None and self.forced_ready:
            end = self.forced_last_offset
            count = next(
                (index for index, message in enumerate(self.messages) if message.offset() > end), len(self.messages)
            )
        self.forced_last_offset = None
        taken, self.messages = self.messages[:count], self.messages[count:]
        nbytes = self.nbytes if not self.messages else sum(len(message) for message in taken)
        self.nbytes -= nbytes
        if self.messages:
            self.started_at = time.monotonic()
        return PartitionBatch(self.topic, self.partition, taken, nbytes)


@dataclass
class FlushGroup:
    """The batches written in one step (one per partition); committed together."""

    batches: list[PartitionBatch]
    attempts: int = 0
    started_at: float = field(default_factory=time.monotonic)
    # Decoding started ahead of the write (see StreamConsumer._flush).
    prepared: Any = None

    def wait_prepared(self) -> None:
        """Let a decode that runs ahead finish before the batches are used (errors are redone later)."""
        if self.prepared is not None:
            # A failed decode is simply redone by the write, which reports the error.
            with contextlib.suppress(Exception):
                self.prepared.result()
            self.prepared = None

    @property
    def messages(self) -> int:
        return sum(len(batch.messages) for batch in self.batches)

    def drop_partitions(self, revoked: set[int]) -> None:
        self.batches = [batch for batch in self.batches if batch.partition not in revoked]
