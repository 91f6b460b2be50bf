"""Versioned ClickHouse migrations: idempotent, recorded, and cluster DDL that parses."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from analytics.warehouse.migrator import MigrationContext, Migrator, discover
from analytics.warehouse.store import EventStore


def _run(*args: str) -> str:
    out = StringIO()
    call_command("clickhouse_migrate", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def _table_ddl(store: EventStore) -> dict[str, str]:
    result = store.query_unscoped_admin(
        "test.ddl", "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
    )
    return dict(result.rows())


@pytest.mark.django_db
def test_migrations_apply_twice_without_change_and_plan_is_empty(store: EventStore) -> None:
    before = _table_ddl(store)
    first = _run()
    second = _run()
    assert "up to date" in first and "up to date" in second
    assert _table_ddl(store) == before
    assert "No pending ClickHouse migrations." in _run("--plan")
    applied = Migrator(store).applied()
    assert sorted(applied) == [migration.version for migration in discover()]
    assert {"events", "persons", "person_distinct_ids", "schema_migrations"} <= set(before)


@pytest.mark.django_db
def test_events_table_is_sorted_by_project_then_day_and_partitioned_by_month(store: EventStore) -> None:
    ddl = _table_ddl(store)["events"]
    assert "ReplacingMergeTree(inserted_at)" in ddl
    assert "PARTITION BY toYYYYMM(timestamp)" in ddl
    assert "ORDER BY (project_id, toDate(timestamp), event, event_id)" in ddl
    assert "TTL toDateTime(timestamp) + toIntervalDay(retention_days)" in ddl


def test_cluster_mode_emits_replicated_local_tables_and_distributed_tables() -> None:
    context = MigrationContext("analytics", "main_cluster")
    statements = [sql for migration in discover() for sql in migration.module.statements(context)]
    text = "\n".join(statements)
    assert (
        "CREATE TABLE IF NOT EXISTS `analytics`.`events_local` ON CLUSTER `main_cluster`" in text
    )
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/events_local', "
        "'{replica}', inserted_at)" in text
    )
    assert (
        "CREATE TABLE IF NOT EXISTS `analytics`.`events` ON CLUSTER `main_cluster` AS `analytics`.`events_local` "
        "ENGINE = Distributed('main_cluster', 'analytics', 'events_local', cityHash64(project_id, distinct_id))"
        in text
    )
    for table in ("persons", "person_distinct_ids"):
        assert f"`analytics`.`{table}_local` ON CLUSTER `main_cluster`" in text
        assert f"ENGINE = Distributed('main_cluster', 'analytics', '{table}_local'" in text
    # Replicated tables deduplicate inserts through Keeper; the non-replicated window is dropped.
    assert "replicated_deduplication_window = 10000" in text
    assert "non_replicated_deduplication_window" not in text
    assert "rand()" not in text  # a Replacing table must shard every copy of a row to one shard


def test_cluster_ddl_is_valid_clickhouse_sql(store: EventStore) -> None:
    """No cluster here, but chDB (a current ClickHouse) can parse every statement."""
    context = MigrationContext("analytics", "main_cluster")
    statements = [sql for migration in discover() for sql in migration.module.statements(context)]
    statements.append(Migrator(store, cluster="main_cluster").record_table_statement())
    for statement in statements:
        formatted = store.query_unscoped_admin(
            "test.format", "SELECT formatQuery({sql:String})", {"sql": statement}
        ).scalar()
        assert "ON CLUSTER main_cluster" in formatted


def test_cluster_record_table_is_one_replicated_copy_for_the_whole_cluster(store: EventStore) -> None:
    statement = Migrator(store, cluster="main_cluster").record_table_statement()
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/all/default/schema_migrations', '{replica}')" in statement


def test_cluster_mode_refuses_a_name_with_sql_in_it() -> None:
    with pytest.raises(ValueError):
        MigrationContext("analytics", "c` ; DROP TABLE events; --")


def test_store_cluster_inserts_are_synchronous_through_the_distributed_table(store: EventStore) -> None:
    from analytics.warehouse.store import EventStore

    clustered = EventStore(store.transport, cluster="main_cluster")
    assert clustered.insert_settings("t-1") == {
        "insert_deduplication_token": "t-1", "insert_deduplicate": 1, "insert_distributed_sync": 1,
    }
    assert store.insert_settings(None) == {}
