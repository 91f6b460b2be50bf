"""The all-in-one process: ASGI web server (HTTP + WebSockets), and in embedded mode
the background services (the beat schedule) driven in-process.

SIGTERM and SIGINT stop it cleanly: the server stops accepting, finishes in-flight
requests (up to 15 s), then the background services stop, the bus is flushed and closed,
the store is closed, and the process exits with status 0.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Generator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from analytics.core.background import start_background_services, stop_background_services
from analytics.core.logging import get_logger
from analytics.streams.bus import reset_event_bus
from analytics.warehouse.store import close_store

log = get_logger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn's server without re-raising the stop signal after shutdown.

    uvicorn re-raises the captured signal once it has stopped, which would kill this
    process before our own cleanup runs and exit with 128+signal; a requested stop is a
    normal exit here.
    """

    @contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        log.info("serve.signal", signal=signal.Signals(sig).name)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C skips waiting for open connections
        self.should_exit = True


class Command(BaseCommand):
    help = "Serve the product (ASGI: HTTP + WebSockets). In embedded mode also runs the periodic tasks in-process."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-beat", action="store_true", help="Do not run the background services in-process.")
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="Apply Django and ClickHouse migrations first (single-process setups).",
        )
        parser.add_argument(
            "--workers", type=int, default=1, help="Worker processes (scale mode only; embedded is one process)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["migrate"]:
            # Before the server and the background services open the store: chDB admits one user.
            call_command("migrate", interactive=False, verbosity=0)
            call_command("clickhouse_migrate")
        embedded = settings.ANALYTICS_MODE == "embedded"
        workers = 1 if embedded else max(1, options["workers"])  # chDB admits one process per data directory
        run_background = embedded and not options["no_beat"]
        host, port = options["host"], options["port"]
        server_options: dict[str, Any] = {
            "host": host,
            "port": port,
            "workers": workers,
            "lifespan": "off",
            # A factory, so that every worker process tunes its garbage collector for serving.
            "factory": True,
            "log_config": None,
            "access_log": False,  # RequestIdMiddleware writes one JSON line per request instead
            "timeout_graceful_shutdown": 15,
            # Client addresses come from DRF and ingestion's enrichment, which honour the trusted
            # proxy settings; uvicorn would otherwise believe X-Forwarded-For from any local peer.
            "proxy_headers": False,
            "server_header": False,
            # Header and idle timeouts, connections per client address: analytics/platform/server.py.
            "http": "analytics.platform.server:GuardedHttpToolsProtocol",
            "timeout_keep_alive": settings.SERVER_KEEPALIVE_TIMEOUT,
        }
        config = uvicorn.Config("config.asgi:web_application", **server_options)
        if run_background:
            start_background_services()
        log.info("serve.start", host=host, port=port, mode=settings.ANALYTICS_MODE, workers=workers)
        self.stdout.write(f"Serving on http://{host}:{port} ({settings.ANALYTICS_MODE} mode); Ctrl-C stops.")
        self.stdout.flush()
        server_ok = True
        try:
            if workers > 1:
                # uvicorn's supervisor forks the workers and forwards the stop signals to them.
                uvicorn.run(config.app, **server_options)
            else:
                server = _Server(config)
                server.run()
                server_ok = server.started
        finally:
            if run_background:
                stop_background_services()
            reset_event_bus()
            close_store()
            log.info("serve.stopped")
        if not server_ok:
            # uvicorn already logged why (for example: the port is in use).
            sys.exit(1)
