"""The all-in-one process: ASGI web server (HTTP + WebSockets), and in embedded mode
the beat schedule driven in-process. Stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand

from analytics.core.logging import get_logger

log = get_logger(__name__)


class Command(BaseCommand):
    help = "Serve the product (ASGI). In embedded mode also runs the periodic tasks in-process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-beat", action="store_true", help="Do not drive the beat schedule in-process.")
        parser.add_argument("--workers", type=int, default=1, help="Worker processes (scale mode only).")

    def handle(self, *args: Any, **options: Any) -> None:
        from analytics.core.background import start_background_services, stop_background_services

        embedded = settings.ANALYTICS_MODE == "embedded"
        workers = 1 if embedded else options["workers"]  # chDB admits one process per data directory
        run_beat = embedded and not options["no_beat"]
        if run_beat:
            start_background_services()
        log.info("serve.start", host=options["host"], port=options["port"], mode=settings.ANALYTICS_MODE)
        self.stdout.write(f"Serving on http://{options['host']}:{options['port']} ({settings.ANALYTICS_MODE} mode)")
        try:
            # uvicorn handles SIGTERM/SIGINT: it stops accepting, finishes in-flight requests, runs lifespan shutdown.
            uvicorn.run(
                "config.asgi:application",
                host=options["host"],
                port=options["port"],
                workers=workers,
                lifespan="off",
                log_config=None,
                access_log=False,
                timeout_graceful_shutdown=15,
            )
        finally:
            if run_beat:
                stop_background_services()
            from analytics.ingestion.bus import reset_event_bus
            from analytics.warehouse.store import close_store

            reset_event_bus()
            close_store()
            log.info("serve.stopped")
