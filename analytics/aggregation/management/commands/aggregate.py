"""`manage.py aggregate [--project ID] [--granularity G] [--once]`: run the aggregation.

Without --once it keeps running every --interval seconds until interrupted (a simple
alternative to beat for one-box setups and debugging). Each run is the same service the
Celery task calls; a stream locked by another run is skipped, not waited for.

In embedded mode while `serve` runs: ``--once`` runs inside the server; the endless loop is
refused (the server already aggregates on its schedule).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandError

from analytics.aggregation.granularity import Granularity
from analytics.aggregation.services import aggregation_run, streams_for
from analytics.core.control import ServerDelegatingCommand


class Command(ServerDelegatingCommand):
    help = "Aggregate streams (project x granularity) from their watermarks."

    def refusal_while_serving(self, options: dict[str, Any]) -> str | None:
        if options.get("once"):
            return None
        return (
            "`manage.py serve` is running and already aggregates on its schedule; "
            "use `aggregate --once` (it runs inside the server) or stop the server first."
        )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--project", type=int, help="Only this project id.")
        parser.add_argument("--granularity", choices=[item.value for item in Granularity])
        parser.add_argument("--once", action="store_true", help="One pass over the streams, then exit.")
        parser.add_argument("--interval", type=float, default=15.0, help="Seconds between passes (default 15).")

    def handle(self, *args: Any, **options: Any) -> None:
        streams = streams_for(project_id=options["project"], granularity=options["granularity"])
        if not streams:
            raise CommandError("no such project" if options["project"] else "no projects yet")
        failures = 0
        try:
            while True:
                failures = self._pass(streams)
                if options["once"]:
                    break
                time.sleep(options["interval"])
        except KeyboardInterrupt:
            self.stdout.write("stopped")
        if failures:
            raise CommandError(f"{failures} stream(s) failed; see the log")

    def _pass(self, streams: list[tuple[int, Granularity]]) -> int:
        failures = 0
        for project_id, granularity in streams:
            try:
                result = aggregation_run(project_id=project_id, granularity=granularity)
            except Exception as error:  # one stream's failure must not stop the others
                failures += 1
                self.stderr.write(f"project {project_id} {granularity.value}: failed: {error}")
                continue
            self.stdout.write(
                f"project {project_id} {granularity.value}: {result.status}"
                f" up to {result.end.isoformat() if result.end else '-'}"
                f" events={result.events} rows={result.rows_written} late={result.late_events}"
                f" in {result.seconds:.2f}s"
            )
        return failures
