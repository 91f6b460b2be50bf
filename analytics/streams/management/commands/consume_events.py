"""``manage.py consume_events``: run a stream consumer (default: the events stream).

Stops cleanly on SIGTERM/SIGINT: the batch being written is finished and committed (or
abandoned uncommitted if it cannot be), the member leaves the group, and the exit
status is 0. Exposes Prometheus metrics on ``--metrics-port`` when given.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from prometheus_client import start_http_server

from analytics.core.gctuning import tune_gc
from analytics.core.logging import get_logger
from analytics.streams.consumer import StreamConsumer
from analytics.streams.registry import get_stream
from analytics.warehouse.migrator import Migrator
from analytics.warehouse.store import get_store

log = get_logger(__name__)

# The consumer holds hundreds of thousands of Kafka Message objects (GC-tracked containers)
# between the poll and the write; with the default threshold the cyclic collector walked
# them all the time, for no garbage found. See analytics/core/gctuning.py.


class Command(BaseCommand):
    help = "Consume a Kafka stream (events by default) into the event store."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--stream", default="events", help="Stream name from the registry.")
        parser.add_argument("--max-messages", type=int, default=None, help="Messages per batch group.")
        parser.add_argument("--max-bytes", type=int, default=None, help="Bytes per batch group.")
        parser.add_argument("--max-wait", type=float, default=None, help="Seconds a message may wait in a buffer.")
        parser.add_argument("--metrics-port", type=int, default=0, help="Serve Prometheus metrics on this port.")
        parser.add_argument(
            "--exit-when-idle",
            type=float,
            default=None,
            help="Exit after this many seconds without messages (benchmarks, backfills).",
        )
        parser.add_argument("--session-timeout-ms", type=int, default=None, help="Consumer group session timeout.")
        parser.add_argument("--metrics-addr", default="127.0.0.1", help="Address of the metrics endpoint.")

    def handle(self, *args: Any, **options: Any) -> None:
        self._require_migrated_store()
        tune_gc()
        try:
            spec = get_stream(options["stream"])
        except KeyError as error:
            raise CommandError(str(error)) from None
        stop = threading.Event()

        def request_stop(signum: int, _frame: Any) -> None:
            log.info("stream.signal", signal=signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        if options["metrics_port"]:
            start_http_server(options["metrics_port"], addr=options["metrics_addr"])
        config: dict[str, Any] = {}
        if options["session_timeout_ms"]:
            config["session.timeout.ms"] = options["session_timeout_ms"]
        try:
            consumer = StreamConsumer(
                spec,
                stop=stop,
                config=config,
                max_messages=options["max_messages"],
                max_bytes=options["max_bytes"],
                max_wait_seconds=options["max_wait"],
                exit_when_idle=options["exit_when_idle"],
            )
        except ImproperlyConfigured as error:  # a stream's own setting (network-actions: its project)
            raise CommandError(str(error)) from None
        # Signal handlers are in place from here on: a SIGTERM now is a clean stop.
        self.stdout.write(f"stream {spec.name}: consuming {spec.topic} as {spec.group}")
        self.stdout.flush()
        stats = consumer.run()
        self.stdout.write(
            f"stream {spec.name}: {stats.messages} messages, {stats.rows} rows stored, "
            f"{stats.dead_letters} dead letters, {stats.retries} retries"
        )

    def _require_migrated_store(self) -> None:
        """Refuse to start against a store without the events table, with the fix in the message.

        Without it every insert fails permanently and the consumer would only fill the
        dead-letter topic. A store that is down now is fine: the consumer waits for it.
        """
        try:
            pending = Migrator(get_store(), cluster=settings.CLICKHOUSE_CLUSTER).plan()
        except Exception as error:  # down, or a chDB directory still held by another process
            log.warning("stream.store.unavailable_at_start", error=f"{type(error).__name__}: {str(error)[:300]}")
            return
        if pending:
            names = ", ".join(f"{migration.version:04d}_{migration.name}" for migration in pending)
            raise CommandError(
                f"the event store has pending ClickHouse migrations ({names}); run `manage.py clickhouse_migrate` first"
            )
