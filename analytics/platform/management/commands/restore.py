"""`manage.py restore DIRECTORY`: replace this embedded instance's data with a backup's.

Refused while `serve` runs (it has both databases open): stop it, restore, start it.
Every row count is checked against the backup's manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from analytics.core.control import ServerDelegatingCommand
from analytics.core.progress import progress_bar
from analytics.platform.backup import BackupError, backup_read, backup_restore


class Command(ServerDelegatingCommand):
    help = "Restore the embedded instance (SQLite + chDB) from a backup directory, replacing its data."
    runs_in_server = False

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("directory", help="A directory written by `manage.py backup`.")
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def refusal_while_serving(self, options: dict[str, Any]) -> str | None:
        return "`manage.py serve` is running on this DATA_DIR: stop it, run the restore, then start it again."

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        try:
            manifest = backup_read(directory)
        except BackupError as error:
            raise CommandError(str(error)) from None
        if not options["yes"]:
            answer = input(f"Replace ALL data of this instance with the backup of {manifest['created_at']}? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                raise CommandError("restore cancelled")
        total = sum(table["rows"] for table in manifest["clickhouse"]["tables"])
        try:
            with progress_bar(self.stdout, "event store rows", total=total) as bar:

                def progress(table: str, rows: int) -> None:
                    bar.advance(rows)

                backup_restore(directory, progress=progress)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"restored {directory} (backup of {manifest['created_at']}): all row counts match")
