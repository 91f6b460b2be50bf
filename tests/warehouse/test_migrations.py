"""Versioned ClickHouse migrations: idempotent, recorded, and cluster DDL that parses."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from analytics.warehouse.errors import StoreError
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
    assert "up to date" in first
    assert "up to date" in second
    assert _table_ddl(store) == before
    assert "No pending ClickHouse migrations." in _run("--plan")
    applied = Migrator(store).applied()
    assert sorted(applied) == [migration.version for migration in discover()]
    assert {"events", "persons", "person_distinct_ids", "schema_migrations"} <= set(before)


@pytest.mark.django_db
def test_events_table_is_sorted_by_project_then_hour_and_partitioned_by_month(store: EventStore) -> None:
    ddl = _table_ddl(store)["events"]
    assert "ReplacingMergeTree(inserted_at)" in ddl
    assert "PARTITION BY toYYYYMM(timestamp)" in ddl
    assert "ORDER BY (project_id, toStartOfHour(timestamp), event, event_id)" in ddl
    assert "TTL toDateTime(timestamp) + toIntervalDay(retention_days)" in ddl


def test_cluster_mode_emits_replicated_local_tables_and_distributed_tables() -> None:
    context = MigrationContext("analytics", "main_cluster")
    statements = [sql for migration in discover() for sql in migration.module.statements(context)]
    text = "\n".join(statements)
    assert "CREATE TABLE IF NOT EXISTS `analytics`.`events_local` ON CLUSTER `main_cluster`" in text
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/analytics/events_local', "
        "'{replica}', inserted_at)" in text
    )
    assert (
        "CREATE TABLE IF NOT EXISTS `analytics`.`events` ON CLUSTER `main_cluster` AS `analytics`.`events_local` "
        "ENGINE = Distributed('main_cluster', 'analytics', 'events_local', cityHash64(project_id, distinct_id))" in text
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
        if formatted.startswith("INSERT"):  # data moves through the Distributed tables, never a node's local one
            assert "_local" not in formatted
            assert "insert_distributed_sync = 1" in formatted
        elif formatted.startswith("SELECT"):  # a check reads the Distributed tables, on any node
            assert "_local" not in formatted
        else:
            assert "ON CLUSTER main_cluster" in formatted


def test_cluster_record_table_is_one_replicated_copy_for_the_whole_cluster(store: EventStore) -> None:
    statement = Migrator(store, cluster="main_cluster").record_table_statement()
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/all/default/schema_migrations', '{replica}')" in statement


def test_cluster_mode_refuses_a_name_with_sql_in_it() -> None:
    with pytest.raises(ValueError, match="invalid ClickHouse"):
        MigrationContext("analytics", "c` ; DROP TABLE events; --")


def test_store_cluster_inserts_are_synchronous_through_the_distributed_table(store: EventStore) -> None:
    clustered = EventStore(store.transport, cluster="main_cluster")
    assert clustered.insert_settings("t-1") == {
        "insert_deduplication_token": "t-1",
        "insert_deduplicate": 1,
        "insert_distributed_sync": 1,
    }
    assert store.insert_settings(None) == {}


def _migration(version: int) -> Any:
    return next(migration.module for migration in discover() if migration.version == version)


def _snapshot(store: EventStore, database: str) -> list[tuple[Any, ...]]:
    return store.query_unscoped_admin(
        "test.rekey.rows",
        f"SELECT event_id, event, timestamp, inserted_at FROM `{database}`.events FINAL"
        " WHERE project_id = {project_id:UInt64} ORDER BY event_id, inserted_at",
        {"project_id": 1},
    ).rows()


@pytest.mark.parametrize("interrupted_after", ["copy", "swap"])
def test_hourly_sort_key_migration_keeps_every_row_and_finishes_when_rerun(
    store: EventStore, interrupted_after: str
) -> None:
    """0003 rebuilds a day-sorted events table; a run cut off anywhere is completed by the next."""
    database = f"rekey_{interrupted_after}"
    store.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")
    store.command(f"CREATE DATABASE `{database}`")
    context = MigrationContext(database, None)
    for sql in _migration(1).statements(context):
        store.command(sql)
    for batch in range(3):  # three parts; one event id twice (a redelivery), inserted_at differs
        store.command(
            f"INSERT INTO `{database}`.events (project_id, event_id, event, distinct_id, person_id, timestamp,"
            " received_at, retention_days) SELECT 1, if(number = 0, toUUID('00000000-0000-0000-0000-000000000001'),"
            f" generateUUIDv4()), 'e' || toString(number % 3), 'u', generateUUIDv4(),"
            f" toDateTime64('2026-06-01 00:00:00', 3, 'UTC') + number * 997, now64(3), 3650"
            f" FROM numbers(50 + {batch})"
        )
    before = _snapshot(store, database)

    steps = _migration(3).statements(context)
    cut = next(
        index
        for index, sql in enumerate(steps)
        if sql.startswith("EXCHANGE" if interrupted_after == "swap" else "INSERT")
    )
    for sql in steps[: cut + 1]:
        store.command(sql)
    for sql in steps:  # the rerun
        store.command(sql)

    tables = dict(
        store.query_unscoped_admin(
            "test.rekey.tables", f"SELECT name, sorting_key FROM system.tables WHERE database = '{database}'"
        ).rows()
    )
    assert tables == {"events": "project_id, toStartOfHour(timestamp), event, event_id"}
    # Every event, with the version (inserted_at) that FINAL picked before; the copy may
    # already collapse the redelivered copies (ClickHouse merges a block as it inserts it).
    assert _snapshot(store, database) == before
    assert len(before) == 50 + 51 + 52 - 2  # the id inserted by all three batches is there once
    store.command(f"DROP DATABASE `{database}` SYNC")


def test_hourly_sort_key_migration_refuses_to_swap_when_events_arrived_during_the_copy(store: EventStore) -> None:
    database = "rekey_writer_running"
    store.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")
    store.command(f"CREATE DATABASE `{database}`")
    context = MigrationContext(database, None)
    for sql in _migration(1).statements(context):
        store.command(sql)
    insert = (
        f"INSERT INTO `{database}`.events (project_id, event_id, event, distinct_id, person_id, timestamp,"
        " received_at, retention_days) SELECT 1, generateUUIDv4(), 'e', 'u', generateUUIDv4(),"
        " toDateTime64('2026-06-01 00:00:00', 3, 'UTC'), now64(3), 3650 FROM numbers({rows})"
    )
    store.command(insert.format(rows=20))
    steps = _migration(3).statements(context)
    check = next(index for index, sql in enumerate(steps) if sql.startswith("SELECT throwIf"))
    for sql in steps[:check]:
        store.command(sql)
    store.command(insert.format(rows=1))  # a writer that was not stopped

    with pytest.raises(StoreError, match="events arrived during the copy"):
        store.command(steps[check])
    for sql in steps:  # run again, writers stopped: completes with every event
        store.command(sql)
    assert len(_snapshot(store, database)) == 21
    store.command(f"DROP DATABASE `{database}` SYNC")


def test_a_comment_only_edit_listed_in_accepted_checksums_is_not_reported_as_changed(store: EventStore) -> None:
    migration = next(m for m in discover() if m.version == 3)
    applied = {3: "f0b22922c1c0de30"}  # the checksum stores recorded before its docstring lost a figure
    assert migration.matches(applied[3])
    assert migration.matches(migration.checksum)
    assert not migration.matches("0000000000000000")
    assert Migrator(store, cluster=None).changed(applied) == []
