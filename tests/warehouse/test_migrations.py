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
def test_events_table_is_a_plain_merge_tree_sorted_by_project_then_hour_and_partitioned_by_month(
    store: EventStore,
) -> None:
    ddl = _table_ddl(store)["events"]
    assert "ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp)" in ddl
    assert "Replacing" not in ddl
    assert "ORDER BY (project_id, toStartOfHour(timestamp), event) " in ddl
    assert "TTL toDateTime(timestamp) + toIntervalDay(retention_days)" in ddl
    assert "non_replicated_deduplication_window = 10000" in ddl
    assert "ttl_only_drop_parts = 0" in ddl
    indexes = store.query_unscoped_admin(
        "test.indexes",
        "SELECT name, type FROM system.data_skipping_indices WHERE database = currentDatabase() AND table = 'events'"
        " ORDER BY name",
    ).rows()
    assert [tuple(row) for row in indexes] == [
        ("idx_distinct_id", "bloom_filter"),
        ("idx_event_id", "bloom_filter"),
        ("idx_inserted_at", "minmax"),
    ]


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


# Migration 0004: events becomes a plain MergeTree holding each (project_id, source_id, event_id) once.

_COPY = "00000000-0000-0000-0000-00000000000{n}"
_ONCE_INSERT = (
    "INSERT INTO `{database}`.events (project_id, event_id, event, distinct_id, person_id, timestamp, received_at,"
    " source_id, retention_days, inserted_at) VALUES"
)


def _unscoped(store: EventStore, sql: str) -> Any:
    """The first value of ``sql`` over every project of a scratch database (bypasses the tenant guard)."""
    return store.transport.query(sql, {}, {}).scalar()


def _events_before_0004(store: EventStore, database: str) -> None:
    """A store as migrations 0001..0003 leave it, holding copies the ReplacingMergeTree never collapsed."""
    store.command(f"DROP DATABASE IF EXISTS `{database}` SYNC")
    store.command(f"CREATE DATABASE `{database}`")
    context = MigrationContext(database, None)
    for version in (1, 3):
        for sql in _migration(version).statements(context):
            store.command(sql)
    # 40 distinct events over two months, one part.
    store.command(
        f"INSERT INTO `{database}`.events (project_id, event_id, event, distinct_id, person_id, timestamp,"
        " received_at, source_id, retention_days, inserted_at) SELECT 1, generateUUIDv4(), 'e' || toString(number % 3),"
        " 'u', generateUUIDv4(), toDateTime64('2026-05-31 20:00:00', 3, 'UTC') + number * 997, now64(3), 'web', 3650,"
        " toDateTime64('2026-06-02 00:00:00', 3, 'UTC') FROM numbers(40)"
    )
    rows = [
        # Event 1: stored first at 10:15 (the copy to keep), re-sent with other timestamps in
        # other batches: another hour, another month, another day. Never collapsed by FINAL.
        ("1", "web", "2026-06-01 10:15:00", "2026-06-02 01:00:00"),
        ("1", "web", "2026-06-01 11:45:00", "2026-06-02 02:00:00"),
        ("1", "web", "2026-05-31 23:59:00", "2026-06-02 03:00:00"),
        ("1", "web", "2026-06-03 09:00:00", "2026-06-02 04:00:00"),
        # Event 2: the same timestamp twice (the case ReplacingMergeTree did collapse).
        ("2", "web", "2026-06-01 12:00:00", "2026-06-02 01:00:00"),
        ("2", "web", "2026-06-01 12:00:00", "2026-06-02 02:00:00"),
        # Event 3: two sources that happen to use the same event id are two events.
        ("3", "web", "2026-06-01 13:00:00", "2026-06-02 01:00:00"),
        ("3", "ios", "2026-06-01 13:30:00", "2026-06-02 01:00:00"),
    ]
    for index, (n, source, timestamp, inserted_at) in enumerate(rows):  # one part each
        store.command(
            _ONCE_INSERT.format(database=database)
            + f" (1, '{_COPY.format(n=n)}', 'copy', 'u', generateUUIDv4(), toDateTime64('{timestamp}', 3, 'UTC'),"
            f" now64(3), '{source}', 3650, toDateTime64('{inserted_at}', 3, 'UTC') + {index} / 1000)"
        )
    # Event 4 in project 2: the same event id as event 1 in another project is another event.
    store.command(
        _ONCE_INSERT.format(database=database)
        + f" (2, '{_COPY.format(n=1)}', 'copy', 'u', generateUUIDv4(), toDateTime64('2026-06-01 10:15:00', 3, 'UTC'),"
        " now64(3), 'web', 3650, now64(3))"
    )


def _copies(store: EventStore, database: str) -> list[tuple[Any, ...]]:
    sql = (
        f"SELECT project_id, toString(event_id), source_id, toString(timestamp) FROM `{database}`.events"
        " WHERE event = 'copy' ORDER BY project_id, event_id, source_id"
    )
    return [tuple(row) for row in store.transport.query(sql, {}, {}).rows()]


@pytest.mark.parametrize("interrupted_after", ["copy", "swap"])
def test_exactly_once_migration_keeps_the_first_copy_of_each_identity_and_finishes_when_rerun(
    store: EventStore, interrupted_after: str
) -> None:
    database = f"once_{interrupted_after}"
    _events_before_0004(store, database)
    identities = _unscoped(store, f"SELECT uniqExact(project_id, source_id, event_id) FROM `{database}`.events")
    assert identities == 40 + 4 + 1

    steps = _migration(4).statements(MigrationContext(database, None))
    cut = next(
        index
        for index, sql in enumerate(steps)
        if sql.startswith("EXCHANGE" if interrupted_after == "swap" else "INSERT")
    )
    for sql in steps[: cut + 1]:
        store.command(sql)
    for sql in steps:  # the rerun
        store.command(sql)

    tables = store.query_unscoped_admin(
        "test.once.tables", f"SELECT name, engine, sorting_key FROM system.tables WHERE database = '{database}'"
    ).rows()
    assert [tuple(row) for row in tables] == [("events", "MergeTree", "project_id, toStartOfHour(timestamp), event")]
    assert _copies(store, database) == [
        (1, _COPY.format(n=1), "web", "2026-06-01 10:15:00.000"),  # the first stored copy
        (1, _COPY.format(n=2), "web", "2026-06-01 12:00:00.000"),
        (1, _COPY.format(n=3), "ios", "2026-06-01 13:30:00.000"),
        (1, _COPY.format(n=3), "web", "2026-06-01 13:00:00.000"),
        (2, _COPY.format(n=1), "web", "2026-06-01 10:15:00.000"),
    ]
    total = _unscoped(store, f"SELECT count() FROM `{database}`.events")
    assert total == identities
    indexes = store.query_unscoped_admin(
        "test.once.indexes",
        f"SELECT name FROM system.data_skipping_indices WHERE database = '{database}' ORDER BY name",
    ).rows()
    assert [row[0] for row in indexes] == ["idx_distinct_id", "idx_event_id", "idx_inserted_at"]
    store.command(f"DROP DATABASE `{database}` SYNC")


def test_exactly_once_migration_refuses_to_swap_when_events_arrived_during_the_copy(store: EventStore) -> None:
    database = "once_writer_running"
    _events_before_0004(store, database)
    steps = _migration(4).statements(MigrationContext(database, None))
    check = next(index for index, sql in enumerate(steps) if sql.startswith("SELECT throwIf"))
    for sql in steps[:check]:
        store.command(sql)
    store.command(  # a writer that was not stopped
        f"INSERT INTO `{database}`.events (project_id, event_id, event, distinct_id, person_id, timestamp,"
        " received_at, retention_days) SELECT 1, generateUUIDv4(), 'late', 'u', generateUUIDv4(),"
        " toDateTime64('2026-06-01 00:00:00', 3, 'UTC'), now64(3), 3650"
    )

    with pytest.raises(StoreError, match="events arrived during the copy"):
        store.command(steps[check])
    engine = store.query_unscoped_admin(
        "test.once.engine", f"SELECT engine FROM system.tables WHERE database = '{database}' AND name = 'events'"
    ).scalar()
    assert engine == "ReplacingMergeTree"  # not swapped
    for sql in steps:  # run again, writers stopped: completes with every event
        store.command(sql)
    total = _unscoped(store, f"SELECT count() FROM `{database}`.events")
    assert total == 40 + 4 + 1 + 1
    store.command(f"DROP DATABASE `{database}` SYNC")


def test_exactly_once_migration_on_a_cluster_copies_through_the_distributed_tables() -> None:
    steps = _migration(4).statements(MigrationContext("analytics", "main_cluster"))
    text = "\n".join(steps)
    assert (
        "CREATE TABLE IF NOT EXISTS `analytics`.`events_once_local` ON CLUSTER `main_cluster` AS "
        "`analytics`.`events_local` ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/analytics/"
        "events_local_{uuid}', '{replica}') PARTITION BY toYYYYMM(timestamp) "
        "ORDER BY (project_id, toStartOfHour(timestamp), event) " in text
    )
    assert "replicated_deduplication_window = 10000, ttl_only_drop_parts = 0" in text
    assert "non_replicated_deduplication_window" not in text
    assert (
        "ALTER TABLE `analytics`.`events_once_local` ON CLUSTER `main_cluster` "
        "ADD INDEX IF NOT EXISTS idx_inserted_at inserted_at TYPE minmax GRANULARITY 1" in steps
    )
    assert (
        "ENGINE = Distributed('main_cluster', 'analytics', 'events_once_local', cityHash64(project_id, distinct_id))"
        in text
    )
    copy = next(sql for sql in steps if sql.startswith("INSERT"))
    assert copy.startswith("INSERT INTO `analytics`.`events_once` SETTINGS insert_distributed_sync = 1 ")
    assert "FROM `analytics`.`events` ORDER BY inserted_at LIMIT 1 BY project_id, source_id, event_id" in copy
    check = next(sql for sql in steps if sql.startswith("SELECT"))
    assert "FROM `analytics`.`events`)" in check
    assert "FROM `analytics`.`events_once`)" in check
    assert "EXCHANGE TABLES `analytics`.`events_local` AND `analytics`.`events_once_local` ON CLUSTER" in text
