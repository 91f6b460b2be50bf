"""``manage.py loadgen``: send realistic events to the API, optionally verify the store.

    manage.py loadgen --scenario web --events 100000 --workers 4 --target http://127.0.0.1:8000 \
        --write-key wk_... --verify --json

A progress line is printed while it runs; ``--json`` prints the summary as one JSON object
on the last line. ``--verify`` waits until every accepted event id is in the store (read
through the store of these settings, scoped by the write key's project) and reports
verified, lost, duplicates and send-to-stored latency p50/p95/p99.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.core.management.base import BaseCommand, CommandError

from analytics.accounts.selectors import project_for_write_key
from analytics.loadgen.runner import default_ledger_dir, run_load
from analytics.loadgen.scenarios import SCENARIOS
from analytics.loadgen.sender import SendPlan
from analytics.loadgen.verify import verify_until_complete
from analytics.warehouse.store import get_store


class Command(BaseCommand):
    help = "Generate load against POST /api/v1/events (scenarios: web, telecom); --verify checks the store."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="web")
        parser.add_argument(
            "--rate",
            type=float,
            default=0,
            help="Events per second over all workers (0: as fast as the server answers).",
        )
        amount = parser.add_mutually_exclusive_group()
        amount.add_argument("--events", type=int, default=None, help="Send this many events.")
        amount.add_argument("--duration", type=float, default=None, help="Send for this many seconds.")
        parser.add_argument("--users", type=int, default=10_000, help="Distinct users to draw from.")
        parser.add_argument("--workers", type=int, default=2, help="Worker processes.")
        parser.add_argument("--threads", type=int, default=4, help="Connections (threads) per worker.")
        parser.add_argument("--batch-size", type=int, default=100, help="Events per request.")
        parser.add_argument("--target", default="http://127.0.0.1:8000", help="Base URL of the API.")
        parser.add_argument("--write-key", required=True, help="The project's write key.")
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--ledger-dir", default=None, help="Keep the ledger of accepted events here.")
        parser.add_argument("--verify", action="store_true", help="Wait until every accepted event is stored.")
        parser.add_argument("--verify-timeout", type=float, default=300.0)
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON on the last line.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["events"] is None and options["duration"] is None:
            options["events"] = 10_000
        if options["workers"] < 1 or options["threads"] < 1 or options["batch_size"] < 1:
            raise CommandError("--workers, --threads and --batch-size must be at least 1")
        plan = SendPlan(
            scenario=options["scenario"],
            target=options["target"],
            write_key=options["write_key"],
            events=options["events"],
            duration=options["duration"],
            rate=options["rate"],
            users=options["users"],
            workers=options["workers"],
            threads=options["threads"],
            batch_size=options["batch_size"],
            ledger_dir=options["ledger_dir"] or default_ledger_dir(),
            seed=options["seed"],
        )
        since = datetime.now(UTC) - timedelta(minutes=1)
        summary = run_load(plan, progress=sys.stderr)
        report: dict[str, Any] = {
            "scenario": plan.scenario,
            "sent": summary.sent,
            "failed": summary.failed,
            "requests": summary.requests,
            "retried_requests": summary.retries,
            "seconds": round(summary.seconds, 2),
            "events_per_second": round(summary.events_per_second, 1),
            "success_rate": round(summary.success_rate, 6),
            "ledger_dir": plan.ledger_dir,
        }
        if options["verify"]:
            report.update(self._verify(plan, summary.ledger, since, options["verify_timeout"]))
        if options["json"]:
            self.stdout.write(orjson.dumps(report).decode())
        else:
            for key, value in report.items():
                self.stdout.write(f"{key}: {value}")
        if options["verify"] and (report["lost"] or report["duplicates"]):
            sys.exit(1)

    def _verify(self, plan: Any, ledger: Any, since: datetime, timeout: float) -> dict[str, Any]:
        project = project_for_write_key(plan.write_key)
        if project is None:
            raise CommandError("the write key matches no project")
        verification = verify_until_complete(get_store(), ledger, project_id=project.id, since=since, timeout=timeout)
        return verification.as_dict()
