"""`manage.py aggregate_backfill --from T --to T [--project ID] [--granularity G]`.

Recomputes every final bucket in the range from raw events, replacing what is stored:
idempotent, safe to run while the scheduled runs continue (each chunk takes the stream's
lock). Shows a progress bar per stream. In embedded mode while `serve` runs, it runs inside
the server and streams its output and bars back (analytics/core/control.py).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from analytics.aggregation.granularity import Granularity
from analytics.aggregation.services import aggregation_backfill, streams_for
from analytics.core.control import ServerDelegatingCommand
from analytics.core.progress import progress_bar
from analytics.core.timeutils import parse_iso_utc


class Command(ServerDelegatingCommand):
    help = "Re-aggregate a time range (replace, never add)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="start", required=True, help="ISO-8601 start (inclusive).")
        parser.add_argument("--to", dest="end", required=True, help="ISO-8601 end (exclusive).")
        parser.add_argument("--project", type=int)
        parser.add_argument("--granularity", choices=[item.value for item in Granularity])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            start, end = parse_iso_utc(options["start"]), parse_iso_utc(options["end"])
        except ValueError as error:
            raise CommandError(f"--from/--to must be ISO-8601 times: {error}") from None
        if start >= end:
            raise CommandError("--from must be before --to")
        streams = streams_for(project_id=options["project"], granularity=options["granularity"])
        if not streams:
            raise CommandError("no such project" if options["project"] else "no projects yet")
        for project_id, granularity in streams:
            label = f"project {project_id} {granularity.value}"
            with progress_bar(self.stdout, label) as bar:

                def progress(done: int, total: int, bar: Any = bar) -> None:
                    bar.update(done, total=total)

                totals = aggregation_backfill(
                    project_id=project_id,
                    granularity=granularity,
                    start=start,
                    end=end,
                    progress=progress,
                )
            if totals["chunks"] == 0:
                self.stdout.write(f"{label}: nothing final in range")
            else:
                self.stdout.write(f"{label}: events={totals['events']} rows={totals['rows_written']}")
