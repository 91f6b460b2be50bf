"""Per-project retention after a shrink, and merging closed partitions (services + tasks)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from analytics.accounts.models import Project
from analytics.core.timeutils import utc_now
from analytics.platform.tasks import events_retention_enforce
from analytics.warehouse import services
from analytics.warehouse.guard import Query
from analytics.warehouse.queries import maintenance
from analytics.warehouse.store import EventStore
from tests.factories import ProjectFactory
from tests.warehouse.helpers import count_events, event_row, new_project_id


def _ms(days_ago: float) -> int:
    return int((utc_now() - timedelta(days=days_ago)).timestamp() * 1000)


def _insert(
    store: EventStore, project_id: int, days_ago: float, *, retention_days: int, token: str, **fields: object
) -> dict[str, object]:
    row = event_row(
        project_id, timestamp=_ms(days_ago), received_at=_ms(days_ago), retention_days=retention_days, **fields
    )
    store.insert_events([row], dedup_token=token)
    return row


def test_a_shrunk_retention_deletes_only_that_projects_older_rows(store: EventStore) -> None:
    shrunk, other = new_project_id(), new_project_id()
    _insert(store, shrunk, 100, retention_days=365, token=f"old-{shrunk}")
    _insert(store, shrunk, 10, retention_days=365, token=f"new-{shrunk}")
    _insert(store, other, 100, retention_days=365, token=f"old-{other}")

    result = services.events_retention_enforce(project_id=shrunk, retention_days=30, wait=True, store=store)

    assert result.deleted
    assert result.expired_rows == 1
    assert count_events(store, shrunk) == 1
    assert count_events(store, other) == 1  # the filter is per project


def test_a_shrunk_retention_also_deletes_the_ended_months_of_action_user_days(store: EventStore) -> None:
    project_id = new_project_id()
    for days_ago in (160, 130, 0.01):  # not the month the partition test below uses (70 days)
        _insert(store, project_id, days_ago, retention_days=365, token=f"call-{project_id}-{days_ago}", event="CALL_IN")
    months = Query(
        name="test.user_day_months",
        sql="SELECT DISTINCT month FROM action_user_days WHERE project_id = {project_id:UInt64} ORDER BY month",
        params={"project_id": project_id},
    )
    assert len(store.query(months).rows()) >= 3

    services.events_retention_enforce(project_id=project_id, retention_days=30, wait=True, store=store)

    cutoff = (utc_now() - timedelta(days=30)).date().replace(day=1)
    left = [month for (month,) in store.query(months).rows()]
    assert left
    assert all(month >= cutoff for month in left)


def test_nothing_to_delete_means_no_mutation(store: EventStore) -> None:
    project_id = new_project_id()
    _insert(store, project_id, 10, retention_days=30, token=f"recent-{project_id}")
    result = services.events_retention_enforce(project_id=project_id, retention_days=30, store=store)
    assert not result.deleted
    assert result.expired_rows == 0
    assert count_events(store, project_id) == 1


def test_rows_written_with_the_shorter_retention_are_left_to_the_ttl(store: EventStore) -> None:
    project_id = new_project_id()
    _insert(store, project_id, 40, retention_days=30, token=f"ttl-{project_id}")
    result = services.events_retention_enforce(project_id=project_id, retention_days=30, store=store)
    assert result.expired_rows == 0  # its own TTL already expires it; no mutation needed


def test_the_retention_delete_is_a_parameterised_project_scoped_mutation() -> None:
    query = maintenance.expired_rows_delete(project_id=7, retention_days=30, cutoff=utc_now(), cluster="main")
    assert query.sql.startswith(
        "ALTER TABLE events_local ON CLUSTER `main` DELETE WHERE project_id = {project_id:UInt64}"
    )
    assert query.params["project_id"] == 7


@pytest.mark.django_db
def test_the_retention_task_enforces_every_projects_current_retention(store: EventStore) -> None:
    project: Project = ProjectFactory(retention_days=365)  # type: ignore[assignment]
    _insert(store, project.id, 200, retention_days=365, token=f"task-old-{project.id}")
    _insert(store, project.id, 5, retention_days=365, token=f"task-new-{project.id}")
    project.retention_days = 90
    project.save(update_fields=["retention_days"])

    reported = events_retention_enforce.apply().get()

    assert {
        "project_id": project.id,
        "retention_days": 90,
        "expired_rows": 1,
        "deleted": True,
        "skipped_reason": "",
    } in reported
    # The task's mutation runs asynchronously; wait (bounded) until ClickHouse finished it.
    _wait_for_mutations(store)
    assert count_events(store, project.id) == 1


def _wait_for_mutations(store: EventStore, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while store.query_unscoped_admin("test.mutations", maintenance.unfinished_mutations_sql(None)).scalar():
        assert time.monotonic() < deadline, "the retention mutation did not finish"
        time.sleep(0.1)


def _active_parts(store: EventStore, partition_id: str, table: str = "events") -> int:
    return int(
        store.query_unscoped_admin(
            "test.parts",
            "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = {table:String} "
            "AND active AND partition_id = {partition:String}",
            {"partition": partition_id, "table": table},
        ).scalar()
    )


def test_closed_partitions_are_merged_into_one_part_each(store: EventStore) -> None:
    project_id = new_project_id()
    days_ago = 70  # two months back: a closed partition
    moment = utc_now() - timedelta(days=days_ago)
    partition_id = f"{moment.year}{moment.month:02d}"
    # ClickHouse's background merges would otherwise join the two small parts at any moment,
    # leaving the service nothing to do: hold them until the service runs.
    store.command("SYSTEM STOP MERGES events")
    try:
        _insert(store, project_id, days_ago, retention_days=365, token=f"closed-a-{project_id}")
        _insert(store, project_id, days_ago, retention_days=365, token=f"closed-b-{project_id}")
        assert _active_parts(store, partition_id) >= 2
        assert count_events(store, project_id) == 2
    finally:
        store.command("SYSTEM START MERGES events")

    # Other tests of the session leave many closed months behind; ask for all of them.
    merged = services.events_partitions_optimize(max_partitions=10_000, store=store)

    assert partition_id in merged
    assert _active_parts(store, partition_id) == 1
    assert count_events(store, project_id) == 2  # part-count maintenance: every event stays


def test_closed_months_of_action_user_days_are_merged_too(store: EventStore) -> None:
    project_id = new_project_id()
    moment = utc_now() - timedelta(days=70)
    partition_id = f"{moment.year}{moment.month:02d}"
    days = (
        "SELECT user_hash, groupBitOr(days) AS mask FROM action_user_days "
        "WHERE project_id = {project_id:UInt64} GROUP BY user_hash ORDER BY user_hash"
    )
    store.command("SYSTEM STOP MERGES action_user_days")
    try:
        for index, days_ago in enumerate((70, 70.001)):  # one closed month, two inserts
            _insert(store, project_id, days_ago, retention_days=365, token=f"ud-{index}-{project_id}", event="DATA")
        assert _active_parts(store, partition_id, "action_user_days") >= 2
        before = store.query(Query(name="test.days", sql=days, params={"project_id": project_id})).rows()
    finally:
        store.command("SYSTEM START MERGES action_user_days")

    merged = services.user_days_partitions_optimize(max_partitions=10_000, store=store)

    assert partition_id in merged
    assert _active_parts(store, partition_id, "action_user_days") == 1
    after = store.query(Query(name="test.days", sql=days, params={"project_id": project_id})).rows()
    assert after == before
    assert len(after) == 1  # one user
    assert bin(after[0][1]).count("1") in (1, 2)  # its one or two UTC days


def test_the_current_month_is_never_optimized(store: EventStore) -> None:
    project_id = new_project_id()
    for index in range(2):
        _insert(store, project_id, 0, retention_days=365, token=f"current-{index}-{project_id}")
    now = utc_now()
    # Without two parts the month would not be a candidate whatever the rule says.
    assert _active_parts(store, f"{now.year}{now.month:02d}") >= 2
    merged = services.events_partitions_optimize(max_partitions=100, now=now, store=store)
    assert f"{now.year}{now.month:02d}" not in merged


def test_an_optimize_of_a_partition_id_with_sql_is_refused() -> None:
    with pytest.raises(ValueError, match="unexpected events partition id"):
        maintenance.optimize_partition_sql("202601' FINAL; DROP TABLE events; --", None)


def test_counting_expired_rows_is_scoped(store: EventStore) -> None:
    query = maintenance.expired_rows_count(project_id=new_project_id(), retention_days=30, cutoff=utc_now())
    assert isinstance(query, Query)
    assert store.query(query).scalar() == 0
