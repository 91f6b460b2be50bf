"""``manage.py consume_benchmark EVENTS``: produce EVENTS to a fresh topic, consume them with the
product's stream consumer, and compare with the raw Arrow insert rate of the same rows (JSON)."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.management.base import BaseCommand

from analytics.core.gctuning import tune_gc
from analytics.devtools.consumer_benchmark import run_benchmark


class Command(BaseCommand):
    help = "Measure the events stream consumer against a raw Arrow insert of the same rows; prints JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("events", type=int, help="How many events to produce and consume.")

    def handle(self, *args: Any, **options: Any) -> None:
        tune_gc()
        self.stdout.write(orjson.dumps(run_benchmark(options["events"])).decode())
