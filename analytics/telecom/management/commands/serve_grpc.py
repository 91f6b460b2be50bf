"""``manage.py serve_grpc``: the providers' read API over gRPC (default port ``GRPC_PORT``, 9090).

Stops on SIGTERM/SIGINT: new calls are refused, calls in flight get ``--grace`` seconds.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from analytics.telecom.grpc_server import SERVICE_NAME, build_server


class Command(BaseCommand):
    help = "Serve GetUserDetail and GetGlobalAgg (telecom.v1.TelecomRead) and the gRPC health service."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", type=int, default=None, help="Port (default: GRPC_PORT).")
        parser.add_argument("--address", default=None, help="Address (default: GRPC_ADDRESS).")
        parser.add_argument("--workers", type=int, default=8, help="Threads answering calls.")
        parser.add_argument("--grace", type=float, default=10.0, help="Seconds calls in flight get on stop.")

    def handle(self, *args: Any, **options: Any) -> None:
        address = options["address"] or settings.GRPC_ADDRESS
        port = settings.GRPC_PORT if options["port"] is None else options["port"]
        server, bound = build_server(address, port, workers=options["workers"])
        stopped = threading.Event()

        def request_stop(signum: int, _frame: Any) -> None:
            stopped.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        server.start()
        self.stdout.write(f"gRPC: {SERVICE_NAME} and grpc.health.v1 on {address}:{bound}")
        self.stdout.flush()
        stopped.wait()
        server.stop(options["grace"]).wait()
        self.stdout.write("gRPC: stopped")
