"""`manage.py backup DIRECTORY`: the Django database and the event store, consistent (embedded mode).

While `serve` runs, it runs inside the server (the only process that may open the store)
and streams its progress back; otherwise it opens both itself. Scale mode: pg_dump and
ClickHouse BACKUP, see docs/operations.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from analytics.core.control import ServerDelegatingCommand
from analytics.core.progress import progress_bar
from analytics.platform.backup import BackupError, backup_create


class Command(ServerDelegatingCommand):
    help = "Back up the embedded instance (SQLite + chDB) into a new directory."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("directory", help="A new or empty directory (absolute or relative to here).")

    def execute(self, *args: Any, **options: Any) -> Any:
        # Resolved here, in the caller's working directory, before the server may run it.
        if options.get("directory"):
            options["directory"] = str(Path(options["directory"]).resolve())
        return super().execute(*args, **options)

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        try:
            with progress_bar(self.stdout, "event store tables") as bar:

                def progress(table: str, rows: int) -> None:
                    bar.advance(1)

                manifest = backup_create(directory, progress=progress)
        except BackupError as error:
            raise CommandError(str(error)) from None
        tables = manifest["clickhouse"]["tables"]
        events = sum(table["rows"] for table in tables)
        django_rows = sum(manifest["sqlite"]["rows"].values())
        self.stdout.write(
            f"backup written to {directory}: {django_rows} Django rows in {len(manifest['sqlite']['rows'])} tables, "
            f"{events} store rows in {len(tables)} tables"
        )
