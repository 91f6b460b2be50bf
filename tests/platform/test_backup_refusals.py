"""`backup`/`restore` refuse what they cannot do consistently, in one line (the round trip
itself is in test_control_and_backup.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_scale_mode_is_pointed_at_pg_dump_and_clickhouse_backup(tmp_path: Path) -> None:
    with override_settings(ANALYTICS_MODE="scale"), pytest.raises(CommandError, match="pg_dump and ClickHouse BACKUP"):
        call_command("backup", str(tmp_path / "b"), stdout=io.StringIO())


def test_a_non_sqlite_django_database_is_refused(tmp_path: Path) -> None:
    # The test profile's database is PostgreSQL.
    with pytest.raises(CommandError, match="not SQLite"):
        call_command("backup", str(tmp_path / "b"), stdout=io.StringIO())
    assert not (tmp_path / "b").exists()


def test_restore_needs_a_backup_directory(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not a backup directory"):
        call_command("restore", str(tmp_path), "--yes", stdout=io.StringIO())
    (tmp_path / "manifest.json").write_text('{"format": 99}')
    with pytest.raises(CommandError, match="unknown backup format"):
        call_command("restore", str(tmp_path), "--yes", stdout=io.StringIO())
