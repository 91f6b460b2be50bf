"""Apply the ClickHouse migrations (``--plan`` lists what is pending).

In embedded mode while `serve` runs, it runs inside the server (analytics/core/control.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from analytics.core.control import ServerDelegatingCommand
from analytics.warehouse.errors import StoreError
from analytics.warehouse.migrator import Migrator
from analytics.warehouse.store import get_store


class Command(ServerDelegatingCommand):
    help = "Apply pending ClickHouse migrations to the event store."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--plan", action="store_true", help="List pending migrations and exit.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            migrator = Migrator(get_store(), cluster=settings.CLICKHOUSE_CLUSTER)
            if options["plan"]:
                pending = migrator.plan()
                if not pending:
                    self.stdout.write("No pending ClickHouse migrations.")
                for migration in pending:
                    summary = (migration.module.__doc__ or "").strip().splitlines()
                    self.stdout.write(
                        f"  {migration.version:04d}_{migration.name}" + (f": {summary[0]}" if summary else "")
                    )
                return
            recorded = migrator.applied()
            for migration in migrator.changed(recorded):
                self.stderr.write(
                    self.style.WARNING(f"  {migration.version:04d}_{migration.name} changed after it was applied")
                )
            applied = migrator.migrate(recorded)
            for migration in applied:
                self.stdout.write(self.style.SUCCESS(f"  applied {migration.version:04d}_{migration.name}"))
            if not applied:
                self.stdout.write("ClickHouse schema is up to date.")
        except StoreError as error:
            raise CommandError(f"ClickHouse migration failed: {error}") from error
