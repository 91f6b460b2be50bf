"""Each event stored once: copies of stored events are dropped before the insert
(analytics/warehouse/once.py), whatever their timestamp, delay or path."""

from __future__ import annotations

import gc
import threading
import uuid
import weakref
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from analytics.warehouse.guard import Query
from analytics.warehouse.once import BlockedBloomFilter, StoredEvents, event_keys
from analytics.warehouse.store import EventStore, split_by_month
from tests.warehouse.helpers import BASE_MS, event_row, new_project_id

HOUR_MS = 3_600_000


def plain_count(store: EventStore, project_id: int) -> int:
    """Rows in the table as stored: no FINAL, no uniqExact."""
    sql = "SELECT count() FROM events WHERE project_id = {project_id:UInt64}"
    return int(store.query(Query(name="test.plain_count", sql=sql, params={"project_id": project_id})).scalar())


def stored_identities(store: EventStore, project_id: int) -> list[tuple[str, str]]:
    sql = (
        "SELECT source_id, toString(event_id) FROM events WHERE project_id = {project_id:UInt64} "
        "ORDER BY source_id, event_id"
    )
    return store.query(Query(name="test.identities", sql=sql, params={"project_id": project_id})).rows()


def fresh_process_view(store: EventStore) -> None:
    """What a new process (a restarted consumer) knows: nothing until it reads the table."""
    store._stored_events = None


def test_a_resend_with_another_timestamp_in_another_hour_and_month_is_stored_once(store: EventStore) -> None:
    project_id = new_project_id()
    original = event_row(project_id)
    store.insert_events([original], dedup_token=f"first-{project_id}")
    for shift in (HOUR_MS, 30 * 24 * HOUR_MS, -3 * HOUR_MS):
        copy = dict(original, timestamp=BASE_MS + shift, received_at=BASE_MS + shift)
        assert store.insert_events([copy], dedup_token=f"resend-{project_id}-{shift}") == 0
    assert plain_count(store, project_id) == 1


def test_copies_inside_one_batch_keep_the_first(store: EventStore) -> None:
    project_id = new_project_id()
    first = event_row(project_id, event="first")
    rows = [first, event_row(project_id), dict(first, event="second", timestamp=BASE_MS + HOUR_MS)]
    assert store.insert_events(rows, dedup_token=f"batch-{project_id}") == 2
    events = store.query(
        Query(
            name="test.events",
            sql="SELECT event FROM events WHERE project_id = {project_id:UInt64} AND event_id = {event_id:UUID}",
            params={"project_id": project_id, "event_id": first["event_id"]},
        )
    ).rows()
    assert events == [("first",)]


def test_two_sources_with_one_event_id_are_two_events(store: EventStore) -> None:
    project_id = new_project_id()
    shared = str(uuid.uuid4())
    rows = [event_row(project_id, event_id=shared, source_id=source) for source in ("shop", "app")]
    assert store.insert_events(rows, dedup_token=f"two-sources-{project_id}") == 2
    # And each source's resend is still recognised.
    assert store.insert_events(rows, dedup_token=f"two-sources-again-{project_id}") == 0
    assert stored_identities(store, project_id) == [("app", shared), ("shop", shared)]


def test_a_restarted_writer_recognises_what_is_stored(store: EventStore) -> None:
    project_id = new_project_id()
    rows = [event_row(project_id, distinct_id=f"user-{index}") for index in range(50)]
    store.insert_events(rows, dedup_token=f"before-crash-{project_id}")
    fresh_process_view(store)  # the consumer was killed after the insert, before its commit
    redelivered = [dict(row, received_at=int(row["received_at"]) + 1000) for row in rows]
    assert store.insert_events(redelivered, dedup_token=f"after-restart-{project_id}") == 0
    assert plain_count(store, project_id) == 50


def test_a_writer_taking_over_learns_what_others_stored_since_it_looked(store: EventStore) -> None:
    project_id = new_project_id()
    store.insert_events([event_row(project_id)], dedup_token=f"warm-{project_id}")  # this process's filter is built
    other = EventStore(store.transport, retries=0)  # another writer on the same table
    copy_of = event_row(project_id, distinct_id="moved-user")
    other.insert_events([copy_of], dedup_token=f"other-{project_id}")
    once = store.stored_events
    keys = event_keys(np.array([project_id], dtype=np.uint64), pa.array([copy_of["event_id"]]))
    assert not once._state("events").bloom.may_contain(keys).all()  # type: ignore[union-attr]
    once.refresh("events")  # the consumer calls this after an assignment
    assert once._state("events").bloom.may_contain(keys).all()  # type: ignore[union-attr]
    assert store.insert_events([copy_of], dedup_token=f"taken-over-{project_id}") == 0
    assert plain_count(store, project_id) == 2


def test_false_positives_of_the_filter_are_checked_and_stored(store: EventStore) -> None:
    """A filter that flags everything (full) loses nothing: the exact check decides."""
    project_id = new_project_id()
    once = store.stored_events
    state = once._state("events")
    assert state.bloom is not None
    state.bloom.words[:] = np.uint64(0xFFFFFFFFFFFFFFFF)
    try:
        rows = [event_row(project_id, distinct_id=f"user-{index}") for index in range(30)]
        assert store.insert_events(rows, dedup_token=f"all-flagged-{project_id}") == 30
        assert store.insert_events(rows[:10], dedup_token=f"all-flagged-again-{project_id}") == 0
    finally:
        fresh_process_view(store)  # the filter is rebuilt from the table on the next insert
    assert plain_count(store, project_id) == 30


def test_concurrent_writers_in_one_process_store_a_shared_event_once(store: EventStore) -> None:
    project_id = new_project_id()
    shared = event_row(project_id)
    barrier = threading.Barrier(4)
    results: list[int] = []

    def write(worker: int) -> None:
        barrier.wait()
        rows = [dict(shared, received_at=BASE_MS + worker), event_row(project_id, distinct_id=f"own-{worker}")]
        results.append(store.insert_events(rows, dedup_token=f"worker-{worker}-{project_id}"))

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == [1, 1, 1, 2]
    assert plain_count(store, project_id) == 5


def test_a_retry_that_finds_one_month_stored_still_stores_the_other(store: EventStore) -> None:
    """Each month goes in with a token of its own: a batch whose first insert stored only
    January (then crashed) is retried with the same token and stores February."""
    project_id = new_project_id()
    january = int(datetime(2026, 1, 31, 23, 59, tzinfo=UTC).timestamp() * 1000)
    february = int(datetime(2026, 2, 1, 0, 1, tzinfo=UTC).timestamp() * 1000)
    rows = [event_row(project_id, timestamp=moment, received_at=moment) for moment in (january, february)]
    token = f"two-months-{project_id}"
    store.insert_events(rows[:1], dedup_token=token)  # what the crashed attempt stored
    assert store.insert_events(rows, dedup_token=token) == 1
    assert plain_count(store, project_id) == 2
    months = [month for month, _ in split_by_month(pa.Table.from_pylist(rows).select(["timestamp"]))]
    assert months == ["202601", "202602"]


def test_keys_computed_in_python_equal_the_keys_clickhouse_computes(store: EventStore) -> None:
    project_id = new_project_id()
    rows = [event_row(project_id, distinct_id=f"user-{index}") for index in range(200)]
    rows.append(event_row(project_id, event_id="ffffffff-ffff-ffff-ffff-ffffffffffff"))
    rows.append(event_row(project_id, event_id="00000000-0000-0000-0000-000000000000"))
    store.insert_events(rows, dedup_token=f"keys-{project_id}")
    from_python = event_keys(np.full(len(rows), project_id, dtype=np.uint64), pa.array([r["event_id"] for r in rows]))
    from_store, _ = store._stored_event_keys("events", None)
    assert set(from_python.tolist()) <= set(from_store.tolist())


def test_the_filter_has_no_false_negatives_and_few_false_positives() -> None:
    rng = np.random.default_rng(7)
    stored = rng.integers(0, 2**63, size=200_000, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    other = rng.integers(0, 2**63, size=200_000, dtype=np.uint64) * np.uint64(2)
    bloom = BlockedBloomFilter(capacity=len(stored))
    bloom.add(stored)
    assert bloom.may_contain(stored).all()
    assert bloom.may_contain(other).mean() < 0.001


def test_a_full_filter_is_rebuilt_larger_from_the_table() -> None:
    reads: list[Any] = []

    def read_keys(table: str, since: str | None) -> tuple[np.ndarray, str]:
        reads.append(since)
        return np.arange(10, dtype=np.uint64), "2026-12-02 00:00:00.000"

    once = StoredEvents(read_keys, lambda table, project_id, ids: set())
    state = once._state("events")
    assert state.bloom is not None
    capacity = state.bloom.capacity
    once.remember("events", np.arange(100, 100 + capacity + 1, dtype=np.uint64))
    assert reads == [None, None]  # built, then rebuilt from the table
    assert once._state("events").bloom.capacity > capacity  # type: ignore[union-attr]


def test_a_store_that_used_its_filter_is_freed_without_the_cyclic_collector(store: EventStore) -> None:
    """No reference cycle between a store and its filter: closed stores must go at once
    (the consumer's tuned collector would keep a cycle until exit, after chDB shut down)."""
    project_id = new_project_id()
    other = EventStore(store.transport, retries=0)
    other.insert_events([event_row(project_id)], dedup_token=f"freed-{project_id}")
    reference = weakref.ref(other)
    gc.disable()
    try:
        del other
        assert reference() is None
    finally:
        gc.enable()


def test_keys_of_a_slice_equal_the_keys_of_the_same_rows_in_the_whole_array() -> None:
    ids = pa.array([str(uuid.uuid4()) for _ in range(100)])
    projects = np.arange(100, dtype=np.uint64)
    whole = event_keys(projects, ids)
    assert (event_keys(projects[30:70], ids.slice(30, 40)) == whole[30:70]).all()
