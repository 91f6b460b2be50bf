"""De-duplication: a retried batch is stored once; a re-sent event id is counted once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from analytics.warehouse.errors import StoreQueryError
from analytics.warehouse.guard import Query
from analytics.warehouse.schema import events_to_arrow
from analytics.warehouse.store import EventStore
from analytics.warehouse.transports.chdb_transport import STREAMING_INSERT_MAX_ROWS
from tests.warehouse.helpers import count_events, event_row, new_project_id


def _batch(project_id: int, size: int) -> list[dict[str, object]]:
    return [event_row(project_id, distinct_id=f"user-{index % 7}") for index in range(size)]


def test_same_batch_with_same_token_is_stored_once(store: EventStore) -> None:
    project_id = new_project_id()
    rows = _batch(project_id, 50)
    store.insert_events(rows, dedup_token=f"topic-0-100-149-{project_id}")
    store.insert_events(rows, dedup_token=f"topic-0-100-149-{project_id}")
    # Without FINAL: the second insert never wrote a part, so not even the raw table has copies.
    assert count_events(store, project_id) == 50


def test_a_batch_spanning_two_months_is_still_stored_once(store: EventStore) -> None:
    project_id = new_project_id()
    january = int(datetime(2026, 1, 31, 23, 59, tzinfo=UTC).timestamp() * 1000)
    february = int(datetime(2026, 2, 1, 0, 1, tzinfo=UTC).timestamp() * 1000)
    rows = [event_row(project_id, timestamp=moment, received_at=moment) for moment in (january, february) * 10]
    for _ in range(3):
        store.insert_events(rows, dedup_token=f"two-months-{project_id}")
    assert count_events(store, project_id) == 20


def test_a_different_token_with_new_rows_is_stored(store: EventStore) -> None:
    project_id = new_project_id()
    store.insert_events(_batch(project_id, 5), dedup_token=f"a-{project_id}")
    store.insert_events(_batch(project_id, 5), dedup_token=f"b-{project_id}")
    assert count_events(store, project_id) == 10


def test_a_resent_event_id_in_another_batch_is_never_stored_again(store: EventStore) -> None:
    project_id = new_project_id()
    rows = _batch(project_id, 20)
    store.insert_events(rows, dedup_token=f"first-{project_id}")
    resent = [dict(row, received_at=int(row["received_at"]) + 60_000) for row in rows[:5]]  # type: ignore[call-overload]
    assert store.insert_events(resent, dedup_token=f"client-resend-{project_id}") == 0
    # The plain table holds each event once: no FINAL, no uniqExact needed.
    assert count_events(store, project_id) == 20


def test_the_first_stored_copy_of_a_resent_event_is_kept(store: EventStore) -> None:
    """A copy changes nothing that is stored: the event is what arrived first."""
    project_id = new_project_id()
    row = event_row(project_id, properties='{"v": 1}')
    store.insert_events([row], dedup_token=f"v1-{project_id}")
    store.insert_events([dict(row, properties='{"v": 2}')], dedup_token=f"v2-{project_id}")
    properties = store.query(
        Query(
            name="test.first",
            sql="SELECT properties FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id},
        )
    ).rows()
    assert properties == [('{"v": 1}',)]


def test_the_same_event_id_in_two_projects_is_two_events(store: EventStore) -> None:
    first, second = new_project_id(), new_project_id()
    row = event_row(first)
    store.insert_events([row], dedup_token=f"p1-{first}")
    store.insert_events([dict(row, project_id=second)], dedup_token=f"p2-{second}")
    assert count_events(store, first) == 1
    assert count_events(store, second) == 1


def test_small_and_large_batches_take_both_chdb_insert_paths_and_honour_the_token(store: EventStore) -> None:
    """Below STREAMING_INSERT_MAX_ROWS a chDB insert streams Arrow IPC, above it it reads
    the Arrow table in place; both store every row and pass the dedup token through: other
    rows under a used token are dropped, and the same rows under a new token are recognised
    as stored."""
    for size in (3, STREAMING_INSERT_MAX_ROWS + 1):
        project_id = new_project_id()
        table = events_to_arrow(_batch(project_id, size))
        other_rows = events_to_arrow(_batch(project_id, size))  # new event ids
        store.insert_events(table, dedup_token=f"paths-{project_id}")
        store.insert_events(other_rows, dedup_token=f"paths-{project_id}")  # a used token: dropped by ClickHouse
        assert count_events(store, project_id) == size
        # The same events under a new token: recognised as stored, nothing written.
        assert store.insert_events(table, dedup_token=f"paths-again-{project_id}") == 0
        assert count_events(store, project_id) == size


def test_a_refused_streaming_insert_leaves_the_session_usable(store: EventStore) -> None:
    project_id = new_project_id()
    table = events_to_arrow(_batch(project_id, 2))
    broken = table.set_column(
        table.schema.get_field_index("event_id"), "event_id", pa.array(["not-a-uuid", "also-not"], pa.string())
    )
    with pytest.raises(StoreQueryError):
        store.insert_arrow("events", broken)
    store.insert_events(table, dedup_token=f"after-refusal-{project_id}")
    assert count_events(store, project_id) == 2


def test_an_insert_does_not_wait_behind_a_long_query(store: EventStore) -> None:
    """Queries and inserts use separate chDB sessions: a rollup query running for seconds
    no longer holds up the inserts (in embedded mode, every event POST) behind it."""
    finished: list[str] = []

    def long_query() -> None:
        store.query(
            Query(
                name="test.slow",
                sql="SELECT sum(sleepEachRow(0.001)) FROM numbers(3000)",
                settings={"max_block_size": 10},
            )
        )
        finished.append("query")

    thread = threading.Thread(target=long_query)
    thread.start()
    time.sleep(0.5)  # the query is under way (it sleeps about 3 s in all)
    project_id = new_project_id()
    store.insert_events(_batch(project_id, 10), dedup_token=f"beside-a-query-{project_id}")
    finished.append("insert")
    thread.join()
    assert finished == ["insert", "query"]
    assert count_events(store, project_id) == 10


def test_a_duplicate_inside_one_batch_is_never_written(store: EventStore) -> None:
    project_id = new_project_id()
    rows = _batch(project_id, 10)
    assert store.insert_events([*rows, dict(rows[3])], dedup_token=f"dup-inside-{project_id}") == 10
    assert count_events(store, project_id) == 10
