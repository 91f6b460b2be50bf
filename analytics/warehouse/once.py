"""Each event stored once: drop the copies of stored events before they are inserted.

An event is identified by ``(project_id, source_id, event_id)``: the client's id when it
sent one (with its source, so two sources that reuse an id stay two events), else an id
derived from the payload (``warehouse/identity.py``). At-least-once delivery (Kafka
redelivery, a client's resend, a dead-letter replay) may hand a writer a copy of an event
that is already stored, hours or days later and with another timestamp. The events table is
a plain MergeTree that every analysis reads without ``FINAL``, so the copy must never reach
it.

How a batch is checked (:meth:`StoredEvents.keep_new`):

1. Copies inside the batch: the first row of each identity is kept.
2. A blocked Bloom filter of the 64-bit key of every stored event (one machine word per
   key's bits, so one memory access per probe) says "certainly new" for almost every row.
3. The few rows it flags (real copies, and false positives at about 1 in 10,000) are looked
   up exactly in ``events`` by ``event_id`` (its bloom-filter skip index makes that cheap),
   compared on the whole identity, and dropped if stored.

After the insert the batch's keys are added to the filter. The filter is built lazily from
the table (the key is computed by ClickHouse with :data:`KEY_SQL`, the same arithmetic as
:func:`event_keys`), sized with room to grow, and rebuilt larger when full.

Why it is exact: every copy of an event goes through the writer that owns its user (the bus
keys Kafka by ``project_id:distinct_id``; embedded mode has one writer), writers of one
process are serialised here, and a writer that takes over partitions first adds what others
inserted since its last look (:meth:`StoredEvents.refresh`). Two writers that overlap on a
partition after a rebalance cut the same batch with the same insert token (the intent log),
and ClickHouse drops the second block. Copies that carry another ``distinct_id`` travel
another partition and are caught only if the first copy is stored before the second is
checked (docs/event-store.md, "Exactly once: what holds, and its limits").
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from analytics.core.logging import get_logger
from analytics.warehouse import metrics

log = get_logger(__name__)

# The key: the event id's two 64-bit halves and the project id mixed, then finalised.
# source_id is left out on purpose: the exact check compares it, and leaving it out only
# turns "two sources reused one id" into a lookup, never into a lost event.
_M_HIGH = 0x9E3779B97F4A7C15
_M_PROJECT = 0xC2B2AE3D27D4EB4F
_M_FINAL = 0x94D049BB133111EB
_HALF = "reinterpretAsUInt64(reverse(substring(UUIDToNum(event_id), {start}, 8)))"
_MIXED = f"bitXor(bitXor({_HALF.format(start=1)} * {_M_HIGH}, {_HALF.format(start=9)}), project_id * {_M_PROJECT})"
KEY_SQL = f"bitXor(bitShiftRight(({_MIXED}) * {_M_FINAL}, 31), ({_MIXED}) * {_M_FINAL})"

_HEX = np.zeros(256, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.arange(16, dtype=np.uint8)
_HEX[np.frombuffer(b"ABCDEF", dtype=np.uint8)] = np.arange(10, 16, dtype=np.uint8)
_DASHES = [8, 13, 18, 23]

BITS_PER_KEY = 32  # one 64-bit word holds about two keys' 8 bits: false positives ~1e-4
BITS_SET_PER_KEY = 8
MIN_CAPACITY = 4_000_000  # 16 MB: a new installation rebuilds rarely
GROWTH = 4  # a full filter is rebuilt this many times larger: few rebuilds, each reads every key


def event_keys(project_ids: np.ndarray, event_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The 64-bit key of each ``(project_id, event_id)``, as ClickHouse computes :data:`KEY_SQL`.

    ``event_ids`` are canonical UUID strings (36 characters), as every row carries them.
    """
    if isinstance(event_ids, pa.ChunkedArray):
        event_ids = event_ids.combine_chunks()
    count = len(event_ids)
    if count == 0:
        return np.zeros(0, dtype=np.uint64)
    text = event_ids.cast(pa.string())
    # Read the characters in place, also for a slice of a larger array (the buffers are
    # shared; the offsets say where this slice's text starts).
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=count + 1, offset=text.offset * 4)
    if text.null_count or not (np.diff(offsets) == 36).all():
        raise ValueError("event ids must be canonical UUID strings")
    characters = np.frombuffer(text.buffers()[2], dtype=np.uint8, count=count * 36, offset=int(offsets[0]))
    characters = characters.reshape(count, 36)
    nibbles = _HEX[np.delete(characters, _DASHES, axis=1)]
    octets = (nibbles[:, 0::2] << 4) | nibbles[:, 1::2]
    halves = np.ascontiguousarray(octets).view(">u8").astype(np.uint64)
    projects = np.asarray(project_ids, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = (halves[:, 0] * np.uint64(_M_HIGH)) ^ halves[:, 1] ^ (projects * np.uint64(_M_PROJECT))
        finalised = mixed * np.uint64(_M_FINAL)
        return (finalised >> np.uint64(31)) ^ finalised


class BlockedBloomFilter:
    """A Bloom filter whose probe bits for one key sit in one 64-bit word."""

    def __init__(self, capacity: int) -> None:
        words = 1
        while words * 64 < capacity * BITS_PER_KEY:
            words *= 2
        self.words = np.zeros(words, dtype=np.uint64)
        self.capacity = capacity
        self.count = 0

    def _positions(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = (keys & np.uint64(len(self.words) - 1)).astype(np.intp)
        mask = np.zeros(len(keys), dtype=np.uint64)
        bits = keys >> np.uint64(16)
        one = np.uint64(1)
        for _ in range(BITS_SET_PER_KEY):
            mask |= one << (bits & np.uint64(63))
            bits >>= np.uint64(6)
        return index, mask

    def add(self, keys: np.ndarray) -> None:
        if len(keys) == 0:
            return
        index, mask = self._positions(keys)
        # A scatter keeps only one write per repeated word, so repeat it for the keys whose
        # bits did not all land (two keys of the batch in one word: rare). Much cheaper than
        # np.bitwise_or.at, which handles repeats but costs a slow loop per key.
        while len(index):
            self.words[index] |= mask
            missing = (self.words[index] & mask) != mask
            index, mask = index[missing], mask[missing]
        self.count += len(keys)

    def may_contain(self, keys: np.ndarray) -> np.ndarray:
        index, mask = self._positions(keys)
        return (self.words[index] & mask) == mask


@dataclass
class _TableState:
    bloom: BlockedBloomFilter | None = None
    # ClickHouse's clock when the filter last read the table (None: never).
    seen_until: str | None = None


KeyReader = Callable[[str, str | None], tuple[np.ndarray, str]]
Lookup = Callable[[str, int, list[str]], set[tuple[str, str]]]


class StoredEvents:
    """What one process knows of the stored events' identities, per events table.

    ``read_keys(table, since)`` returns the keys of rows inserted at or after ``since``
    (all rows when ``None``) and ClickHouse's clock; ``lookup(table, project_id, event_ids)``
    returns the stored ``(source_id, event_id)`` pairs among those ids. The store provides
    both (``EventStore.stored_events``).
    """

    # A writer that takes over reads back this much before its last look, so an insert that
    # became visible late is not missed.
    REFRESH_OVERLAP_SECONDS = 120

    def __init__(self, read_keys: KeyReader, lookup: Lookup) -> None:
        self._read_keys = read_keys
        self._lookup = lookup
        self._tables: dict[str, _TableState] = {}
        # Serialises check, insert and remember: two writers of one process must not both
        # find a copy new.
        self.lock = threading.RLock()

    def _state(self, table: str) -> _TableState:
        state = self._tables.get(table)
        if state is None:
            state = self._tables[table] = _TableState()
        if state.bloom is None:
            self._build(table, state)
        return state

    def _build(self, table: str, state: _TableState, *, at_least: int = 0) -> None:
        keys, now = self._read_keys(table, None)
        capacity = max(MIN_CAPACITY, GROWTH * len(keys), GROWTH * at_least)
        bloom = BlockedBloomFilter(capacity)
        bloom.add(keys)
        state.bloom, state.seen_until = bloom, now
        metrics.STORED_EVENTS_FILTER_KEYS.labels(table=table).set(bloom.count)
        log.info("store.once.filter_built", table=table, keys=len(keys), capacity=capacity)

    def refresh(self, table: str) -> None:
        """Add the keys other writers inserted since this process last looked (a writer that
        takes over Kafka partitions calls it before its first batch)."""
        with self.lock:
            state = self._tables.get(table)
            if state is None or state.bloom is None or state.seen_until is None:
                return  # built on first use, from the whole table
            keys, now = self._read_keys(table, state.seen_until)
            # The read overlaps the last one (REFRESH_OVERLAP_SECONDS): keys whose bits are all
            # set already change nothing, and counting them again would make the filter look
            # full and be rebuilt from the whole table.
            state.bloom.add(keys[~state.bloom.may_contain(keys)] if len(keys) else keys)
            state.seen_until = now
            metrics.STORED_EVENTS_FILTER_KEYS.labels(table=table).set(state.bloom.count)

    def keep_new(self, table: str, batch: pa.Table) -> tuple[pa.Table, np.ndarray]:
        """The rows of ``batch`` whose event is not stored yet (first copy of each), and their keys.

        Call with :attr:`lock` held, insert the rows, then :meth:`remember` the keys.
        """
        state = self._state(table)
        bloom = state.bloom
        assert bloom is not None
        projects = batch.column("project_id").to_numpy(zero_copy_only=False)
        keys = event_keys(projects, batch.column("event_id"))
        keep = _first_of_each_identity(batch, keys)
        flagged = np.flatnonzero(keep & bloom.may_contain(keys))
        if len(flagged):
            keep[flagged] = self._not_stored(table, batch, flagged)
            metrics.STORED_EVENTS_LOOKUPS.labels(table=table).inc(len(flagged))
        dropped = batch.num_rows - int(keep.sum())
        if dropped:
            metrics.DUPLICATES_DROPPED.labels(table=table).inc(dropped)
            log.info("store.once.duplicates_dropped", table=table, rows=batch.num_rows, dropped=dropped)
            return batch.filter(pa.array(keep)), keys[keep]
        return batch, keys

    def remember(self, table: str, keys: np.ndarray) -> None:
        """Add the keys of rows just inserted; rebuild larger when the filter is full."""
        state = self._state(table)
        bloom = state.bloom
        assert bloom is not None
        bloom.add(keys)
        if bloom.count > bloom.capacity:
            self._build(table, state, at_least=bloom.count)
        metrics.STORED_EVENTS_FILTER_KEYS.labels(table=table).set(bloom.count)

    def _not_stored(self, table: str, batch: pa.Table, rows: np.ndarray) -> np.ndarray:
        """For each of ``rows``: True when its identity is not in the table."""
        projects = batch.column("project_id").take(pa.array(rows)).to_pylist()
        sources = batch.column("source_id").take(pa.array(rows)).to_pylist()
        events = batch.column("event_id").take(pa.array(rows)).to_pylist()
        stored: set[tuple[int, str, str]] = set()
        for project_id, ids in _by_project(projects, events):
            stored |= {(project_id, source, event) for source, event in self._lookup(table, project_id, ids)}
        return np.array(
            [
                (project_id, source or "", str(event)) not in stored
                for project_id, source, event in zip(projects, sources, events, strict=True)
            ],
            dtype=bool,
        )


def _by_project(projects: list[int], events: list[str]) -> Iterator[tuple[int, list[str]]]:
    grouped: dict[int, list[str]] = {}
    for project_id, event_id in zip(projects, events, strict=True):
        grouped.setdefault(project_id, []).append(str(event_id))
    yield from grouped.items()


def _first_of_each_identity(batch: pa.Table, keys: np.ndarray) -> np.ndarray:
    """True for the first row of each identity in the batch (copies inside one batch)."""
    first = np.zeros(len(keys), dtype=bool)
    _, index, counts = np.unique(keys, return_index=True, return_counts=True)
    first[index] = True
    if (counts > 1).any():
        # A shared key is a copy or (rarely) two events whose keys collide: compare identities.
        repeated = np.flatnonzero(~first & np.isin(keys, keys[index[counts > 1]]))
        seen = set(
            zip(
                batch.column("project_id").take(pa.array(index[counts > 1])).to_pylist(),
                batch.column("source_id").take(pa.array(index[counts > 1])).to_pylist(),
                batch.column("event_id").take(pa.array(index[counts > 1])).to_pylist(),
                strict=True,
            )
        )
        for row in repeated:
            identity = (
                batch.column("project_id")[int(row)].as_py(),
                batch.column("source_id")[int(row)].as_py(),
                batch.column("event_id")[int(row)].as_py(),
            )
            if identity not in seen:
                first[row] = True
                seen.add(identity)
    return first
