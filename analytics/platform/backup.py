"""Embedded-mode backups: the Django database (SQLite) and the event store (chDB) together.

A backup directory holds ``manifest.json``, ``django.sqlite3`` and ``clickhouse/`` (each
table's DDL and rows, analytics/warehouse/backup.py). The SQLite copy is taken first, with
SQLite's online backup API (one step: one consistent snapshot while the server writes), then
the store's tables. Events only ever arrive, so the store's copy holds every event the
SQLite copy's rollups and watermarks were computed from, and perhaps a few newer ones,
which the aggregation picks up after a restore from the restored watermarks. A project
created between the two copies is missing from SQLite and its few events are kept but
unreachable; take backups when no projects are being created if that matters.

Restore replaces both with the backup's and checks every row count against the manifest;
it needs the server stopped (the running server has both open).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections

from analytics.core.timeutils import utc_now
from analytics.warehouse.backup import TableDump, store_dump, store_load
from analytics.warehouse.store import get_store

MANIFEST = "manifest.json"
SQLITE_FILE = "django.sqlite3"
STORE_DIR = "clickhouse"
FORMAT_VERSION = 1


class BackupError(Exception):
    """The backup or restore cannot go ahead; the message says why and what to do."""


def sqlite_database_path() -> Path:
    database = settings.DATABASES["default"]
    if not str(database["ENGINE"]).endswith("sqlite3"):
        raise BackupError(
            "the Django database is not SQLite: back it up with its own tools (pg_dump, docs/operations.md)"
        )
    return Path(str(database["NAME"]))


def require_embedded() -> None:
    if settings.ANALYTICS_MODE != "embedded":
        raise BackupError(
            "backup/restore are for embedded mode; in scale mode use pg_dump and ClickHouse BACKUP (docs/operations.md)"
        )


def sqlite_row_counts(path: Path) -> dict[str, int]:
    """Rows per table of an SQLite file (opened read-only)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as database:
        names = [
            row[0]
            for row in database.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        # Table names come from the file's own catalogue; quoted as identifiers.
        counts = {name: database.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}
    return counts


def _copy_sqlite(source: sqlite3.Connection, target_path: Path) -> None:
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)  # all pages in one step: one snapshot
    finally:
        target.close()


def backup_create(directory: Path, *, progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Write a backup of this instance into ``directory`` (new or empty); returns the manifest."""
    require_embedded()
    sqlite_database_path()
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"{directory} is not empty; back up into a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    started = utc_now()
    connection.ensure_connection()
    _copy_sqlite(connection.connection, directory / SQLITE_FILE)
    tables = store_dump(get_store(), directory / STORE_DIR, progress=progress)
    manifest = {
        "format": FORMAT_VERSION,
        "created_at": started.isoformat(),
        "finished_at": utc_now().isoformat(),
        "sqlite": {"file": SQLITE_FILE, "rows": sqlite_row_counts(directory / SQLITE_FILE)},
        "clickhouse": {"directory": STORE_DIR, "tables": [asdict(table) for table in tables]},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def backup_read(directory: Path) -> dict[str, Any]:
    path = directory.resolve() / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{path} not found: not a backup directory") from None
    if manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} (this version reads {FORMAT_VERSION})")
    return dict(manifest)


def backup_restore(directory: Path, *, progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Replace this instance's data with the backup's; verifies every count. Server stopped."""
    require_embedded()
    target = sqlite_database_path()
    directory = directory.resolve()
    manifest = backup_read(directory)
    source_path = directory / manifest["sqlite"]["file"]
    connections.close_all()
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{source_path}?mode=ro", uri=True) as source:
        _copy_sqlite(source, target)
    restored = sqlite_row_counts(target)
    if restored != manifest["sqlite"]["rows"]:
        raise BackupError("the restored Django database's row counts differ from the backup's manifest")
    tables = [TableDump(**table) for table in manifest["clickhouse"]["tables"]]
    store_load(get_store(), directory / manifest["clickhouse"]["directory"], tables, progress=progress)
    return manifest


def backup_remove(directory: Path) -> None:
    """Delete a backup directory (tests and rotation scripts)."""
    shutil.rmtree(directory)
