"""``manage.py loadgen``: send realistic events to the API, optionally verify the store.

    manage.py loadgen --scenario web --events 100000 --workers 4 --target http://127.0.0.1:8000 \
        --write-key wk_... --verify --json
    manage.py loadgen --mode kafka --duration 60 --rate 5000 --verify --json   # as telecom providers

Defaults come from ``GENERATOR_USER_COUNT``, ``GENERATOR_EVENTS_PER_SEC``,
``GENERATOR_DURATION``, ``GENERATOR_BATCH_SIZE``, ``GENERATOR_WORKERS`` and
``GENERATOR_VERIFY_INTERVAL``; flags override them. ``--mode kafka`` publishes network actions
in the providers' shape to ``TELECOM_KAFKA_TOPIC`` (analytics/loadgen/kafka_mode.py) and
verifies in the store of ``TELECOM_PROJECT_ID`` (or ``--project-id``) while it runs;
``GENERATOR_DURATION=0`` there means until SIGINT/SIGTERM. The HTTP mode without
``--events``/``--duration`` and with ``GENERATOR_DURATION=0`` sends 10,000 events.

A progress line is printed while it runs; ``--json`` prints the summary as one JSON object
on the last line. ``--verify`` waits until every accepted event id is in the store (read
through the store of these settings, scoped by the write key's project) and reports
verified, lost, duplicates and send-to-stored latency p50/p95/p99.
"""

from __future__ import annotations

import signal
import sys
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analytics.accounts.selectors import project_for_write_key
from analytics.loadgen.kafka_mode import KafkaLoad, KafkaPlan, check_store
from analytics.loadgen.runner import default_ledger_dir, run_load
from analytics.loadgen.scenarios import SCENARIOS
from analytics.loadgen.sender import SendPlan
from analytics.loadgen.verify import verify_until_complete
from analytics.warehouse.store import get_store


class Command(BaseCommand):
    help = (
        "Generate load against POST /api/v1/events (scenarios: web, telecom) or, with --mode kafka, "
        "network actions in the providers' shape to the Kafka topic; --verify checks the store."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--mode", choices=("http", "kafka"), default="http", help="Where to send (default http).")
        parser.add_argument("--scenario", choices=sorted(SCENARIOS), default="web")
        parser.add_argument(
            "--rate",
            type=float,
            default=settings.GENERATOR_EVENTS_PER_SEC,
            help="Events per second over all workers (0: as fast as the server answers); GENERATOR_EVENTS_PER_SEC.",
        )
        amount = parser.add_mutually_exclusive_group()
        amount.add_argument("--events", type=int, default=None, help="Send this many events.")
        amount.add_argument(
            "--duration",
            type=float,
            default=None,
            help="Send for this many seconds (0: until stopped); GENERATOR_DURATION.",
        )
        parser.add_argument(
            "--users", type=int, default=settings.GENERATOR_USER_COUNT, help="Distinct users; GENERATOR_USER_COUNT."
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=settings.GENERATOR_WORKERS,
            help="Worker processes (kafka: producer threads).",
        )
        parser.add_argument("--threads", type=int, default=4, help="Connections (threads) per worker.")
        parser.add_argument(
            "--batch-size", type=int, default=settings.GENERATOR_BATCH_SIZE, help="Events per request or produce round."
        )
        parser.add_argument("--target", default="http://127.0.0.1:8000", help="Base URL of the API.")
        parser.add_argument("--write-key", default=None, help="The project's write key (http mode).")
        parser.add_argument("--topic", default=None, help="Kafka mode: the topic (default TELECOM_KAFKA_TOPIC).")
        parser.add_argument(
            "--project-id",
            type=int,
            default=None,
            help="Kafka mode: the project to verify (default TELECOM_PROJECT_ID).",
        )
        parser.add_argument("--source-id", default="loadgen", help="Kafka mode: the messages' source_id.")
        parser.add_argument(
            "--verify-interval",
            type=float,
            default=settings.GENERATOR_VERIFY_INTERVAL,
            help="Kafka mode: seconds between store checks while running; GENERATOR_VERIFY_INTERVAL.",
        )
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--ledger-dir", default=None, help="Keep the ledger of accepted events here.")
        parser.add_argument("--verify", action="store_true", help="Wait until every accepted event is stored.")
        parser.add_argument("--verify-timeout", type=float, default=300.0)
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON on the last line.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["mode"] == "kafka":
            return self._kafka(options)
        if not options["write_key"]:
            raise CommandError("--write-key is required in http mode")
        if options["events"] is None and options["duration"] is None:
            if settings.GENERATOR_DURATION:
                options["duration"] = float(settings.GENERATOR_DURATION)
            else:
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

    def _kafka(self, options: dict[str, Any]) -> None:
        if options["workers"] < 1 or options["batch_size"] < 1:
            raise CommandError("--workers and --batch-size must be at least 1")
        duration = options["duration"]
        if duration is None:
            duration = 0.0 if options["events"] is not None else float(settings.GENERATOR_DURATION)
        plan = KafkaPlan(
            topic=options["topic"] or settings.TELECOM_KAFKA_TOPIC,
            partitions=settings.TELECOM_KAFKA_PARTITIONS,
            users=options["users"],
            rate=options["rate"],
            duration=duration,
            events=options["events"],
            batch_size=options["batch_size"],
            workers=options["workers"],
            source_id=options["source_id"],
            seed=options["seed"],
            verify_interval=options["verify_interval"],
        )
        project_id = options["project_id"] or settings.TELECOM_PROJECT_ID or None
        if options["verify"] and not project_id:
            raise CommandError("--verify in kafka mode needs --project-id or TELECOM_PROJECT_ID")
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda _signum, _frame: stop.set())
        since = datetime.now(UTC) - timedelta(minutes=1)
        store = get_store() if options["verify"] else None
        load = KafkaLoad(plan, store=store, project_id=project_id, since=since, stop=stop, progress=sys.stderr)
        report: dict[str, Any] = {"mode": "kafka", "topic": plan.topic, **load.run()}
        if store is not None and project_id:
            verification = verify_until_complete(
                store, load.ledger(), project_id=project_id, since=since, timeout=options["verify_timeout"]
            )
            report.update(
                {
                    "events_verified": verification.verified,
                    "lost": verification.lost,
                    "duplicates": verification.duplicates,
                    "latency_ms": verification.latency_ms,
                    "lost_sample": verification.lost_sample,
                }
            )
            final = check_store(store, load.ledger(), project_id=project_id, since=since)
            report["avg_latency"] = final.avg_latency_ms
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
