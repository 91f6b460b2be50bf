"""Dump and load every table of the embedded store (chDB) as files: the store half of
`manage.py backup` / `restore`.

A dump writes, per table, its DDL and all its rows (``<table>.native.zst``, ClickHouse's
Native format, zstd) and returns the row count read back from each file. It runs where the
store is open, so inserts may continue during it: each table's file holds the rows of one
consistent snapshot of that table (one SELECT), run in a chDB session of its own so the
server's reads do not wait for it. A load drops the tables it finds, recreates
every table of the dump from its DDL and inserts its rows exactly (no deduplication, no
collapsing on insert), then checks each table's count against the dump's.

These are operator commands over all tenants' data, so they use the transport directly,
below the tenant guard; no user input reaches the SQL (queries/backup.py checks names and
paths). Scale mode uses ClickHouse ``BACKUP`` on the server instead (docs/operations.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chdb import session

from analytics.warehouse.errors import StoreQueryError
from analytics.warehouse.queries import backup as sql
from analytics.warehouse.store import EventStore
from analytics.warehouse.transports.chdb_transport import ChdbTransport, classify_clickhouse_error


@dataclass(frozen=True)
class TableDump:
    name: str
    engine: str
    ddl: str
    rows: int
    file: str | None  # None for views (no rows of their own)


Progress = Callable[[str, int], None]


def _ddl_file(directory: Path, table: str) -> Path:
    return directory / f"{sql.checked_table(table)}.sql"


def _rows_file(directory: Path, table: str) -> Path:
    return directory / f"{sql.checked_table(table)}.native.zst"


def _scalar(store: EventStore, statement: str) -> int:
    value = store.transport.query(statement, {}, {}).scalar()
    return int(value or 0)


def store_tables(store: EventStore) -> list[tuple[str, str, str]]:
    """``(name, engine, ddl)`` of every table, views last."""
    rows = store.transport.query(sql.tables(), {}, {}).rows()
    return [(str(name), str(engine), str(ddl)) for name, engine, ddl in rows]


def store_row_counts(store: EventStore) -> dict[str, int]:
    """``count()`` of every table that holds rows."""
    return {
        name: _scalar(store, sql.table_rows(name))
        for name, engine, _ in store_tables(store)
        if engine not in sql.VIEW_ENGINES
    }


@contextmanager
def _dump_session(store: EventStore) -> Iterator[Callable[[str], None]]:
    """Where the long dump statements run: a session of their own on chDB.

    The store's query session runs one statement at a time; a dump of a large table there
    would hold up every read of the running server until it finished.
    """
    transport = store.transport
    if not isinstance(transport, ChdbTransport):
        yield store.command
        return
    own = session.Session(transport.path)
    try:

        def run(statement: str) -> None:
            try:
                own.query(statement, "CSV")
            except RuntimeError as error:
                raise classify_clickhouse_error(error) from error

        yield run
    finally:
        own.close()


def store_dump(store: EventStore, directory: Path, *, progress: Progress | None = None) -> list[TableDump]:
    """Write every table's DDL and rows under ``directory`` (created; must hold no dump yet)."""
    directory.mkdir(parents=True, exist_ok=True)
    with _dump_session(store) as run:
        return _dump_tables(store, directory, run, progress)


def _dump_tables(
    store: EventStore, directory: Path, run: Callable[[str], None], progress: Progress | None
) -> list[TableDump]:
    dumped = []
    for name, engine, ddl in store_tables(store):
        _ddl_file(directory, name).write_text(ddl + "\n")
        if engine in sql.VIEW_ENGINES:
            dumped.append(TableDump(name=name, engine=engine, ddl=ddl, rows=0, file=None))
            continue
        rows_file = _rows_file(directory, name)
        if rows_file.exists():
            raise StoreQueryError(f"{rows_file} exists already; back up into an empty directory")
        run(sql.dump(name, rows_file))
        structure = [
            (str(column), str(kind))
            for column, kind in store.transport.query(sql.columns(), {"table": name}, {}).rows()
        ]
        rows = _scalar(store, sql.file_rows(rows_file, structure))
        dumped.append(TableDump(name=name, engine=engine, ddl=ddl, rows=rows, file=rows_file.name))
        if progress is not None:
            progress(name, rows)
    return dumped


def store_load(
    store: EventStore, directory: Path, tables: list[TableDump], *, progress: Progress | None = None
) -> None:
    """Replace every table of the store with the dump's (DDL and rows); raise on a count mismatch."""
    for name, _engine, _ddl in reversed(store_tables(store)):  # views first: they depend on tables
        store.command(sql.drop(name))
    # Views after the rows: a materialised view created first would write its rows again from
    # the loaded source table on top of its target's own dumped rows.
    for table in tables:
        if table.file is not None:
            store.command(table.ddl)
    for table in tables:
        if table.file is None:
            continue
        store.command(sql.load(table.name, directory / table.file))
        loaded = _scalar(store, sql.table_rows(table.name))
        if loaded != table.rows:
            raise StoreQueryError(f"{table.name}: restored {loaded} rows, the backup holds {table.rows}")
        if progress is not None:
            progress(table.name, table.rows)
    for table in tables:
        if table.file is None:
            store.command(table.ddl)
