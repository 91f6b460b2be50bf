"""De-duplication: a retried batch is stored once; a re-sent event id is counted once."""

from __future__ import annotations

from datetime import UTC, datetime

from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore
from tests.warehouse.helpers import count_events, event_row, new_project_id


def _batch(project_id: int, size: int) -> list[dict[str, object]]:
    return [event_row(project_id, distinct_id=f"user-{index % 7}") for index in range(size)]


def test_same_batch_with_same_token_is_stored_once(store: EventStore) -> None:
    project_id = new_project_id()
    rows = _batch(project_id, 50)
    store.insert_events(rows, dedup_token=f"topic-0-100-149-{project_id}")
    store.insert_events(rows, dedup_token=f"topic-0-100-149-{project_id}")
    # Without FINAL: the second insert never wrote a part, so not even the raw table has copies.
    assert count_events(store, project_id, final=False) == 50


def test_a_batch_spanning_two_months_is_still_stored_once(store: EventStore) -> None:
    project_id = new_project_id()
    january = int(datetime(2026, 1, 31, 23, 59, tzinfo=UTC).timestamp() * 1000)
    february = int(datetime(2026, 2, 1, 0, 1, tzinfo=UTC).timestamp() * 1000)
    rows = [event_row(project_id, timestamp=moment, received_at=moment) for moment in (january, february) * 10]
    for _ in range(3):
        store.insert_events(rows, dedup_token=f"two-months-{project_id}")
    assert count_events(store, project_id, final=False) == 20


def test_a_different_token_with_new_rows_is_stored(store: EventStore) -> None:
    project_id = new_project_id()
    store.insert_events(_batch(project_id, 5), dedup_token=f"a-{project_id}")
    store.insert_events(_batch(project_id, 5), dedup_token=f"b-{project_id}")
    assert count_events(store, project_id) == 10


def test_a_resent_event_id_in_another_batch_is_counted_once_with_final(store: EventStore) -> None:
    project_id = new_project_id()
    rows = _batch(project_id, 20)
    store.insert_events(rows, dedup_token=f"first-{project_id}")
    resent = [dict(row, received_at=int(row["received_at"]) + 60_000) for row in rows[:5]]  # type: ignore[call-overload]
    store.insert_events(resent, dedup_token=f"client-resend-{project_id}")

    assert count_events(store, project_id, final=False) == 25  # two parts, copies not merged yet
    assert count_events(store, project_id) == 20
    unique_users = store.query(Query(
        name="test.uniq",
        sql="SELECT count(), uniqExact(event_id) FROM events FINAL WHERE project_id = {project_id:UInt64}",
        params={"project_id": project_id},
    )).rows()
    assert unique_users == [(20, 20)]


def test_the_latest_copy_of_a_resent_event_wins(store: EventStore) -> None:
    """ReplacingMergeTree(inserted_at): the copy inserted last is the one FINAL returns."""
    project_id = new_project_id()
    row = event_row(project_id, properties='{"v": 1}')
    store.insert_events([row], dedup_token=f"v1-{project_id}")
    store.insert_events([dict(row, properties='{"v": 2}')], dedup_token=f"v2-{project_id}")
    properties = store.query(Query(
        name="test.latest",
        sql="SELECT properties FROM events FINAL WHERE project_id = {project_id:UInt64}",
        params={"project_id": project_id},
    )).scalar()
    assert properties == '{"v": 2}'


def test_the_same_event_id_in_two_projects_is_two_events(store: EventStore) -> None:
    first, second = new_project_id(), new_project_id()
    row = event_row(first)
    store.insert_events([row], dedup_token=f"p1-{first}")
    store.insert_events([dict(row, project_id=second)], dedup_token=f"p2-{second}")
    assert count_events(store, first) == 1
    assert count_events(store, second) == 1
