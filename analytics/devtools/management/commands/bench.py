"""``manage.py bench [--only NAME ...] [--scale X]``: the benchmark suite (``make bench``).

Prints progress on stderr, then a table and ONE JSON object as the last stdout line;
writes the same object to var/bench/latest.json. Exit status 1 when a stage errored
(a target missed is reported, not an error; "unavailable" stages say why).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analytics.devtools.bench.readme import publish
from analytics.devtools.bench.registry import bench_scale, load_stages
from analytics.devtools.bench.runner import format_table, run_suite, write_latest


def machine_line(report: dict[str, Any]) -> str:
    machine = report["machine"]
    return (
        f"machine: {machine['nproc']} cores, {machine['cpu']}, {machine['ram_gb']} GB RAM, "
        f"load {machine['load_avg_1m']} at start; scale {report['scale']}; {report['seconds']} s; "
        f"started {report['started_at'][:19]}Z"
    )


class Command(BaseCommand):
    help = "Run the benchmark suite; every figure next to a baseline measured in the same run."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--only",
            action="append",
            metavar="NAME",
            help=f"Run only this stage (repeatable). Stages: {', '.join(load_stages())}.",
        )
        parser.add_argument(
            "--scale",
            type=float,
            default=None,
            help="Data scale (default: BENCH_SCALE or 1.0; 1.0 = 10M events / 1M users).",
        )
        parser.add_argument("--list", action="store_true", help="List the stages and exit.")
        parser.add_argument(
            "--publish",
            action="store_true",
            help="Write the run's table into README.md and docs/benchmarks/ (a full run, or with --table-from).",
        )
        parser.add_argument(
            "--table-from",
            metavar="JSON",
            help="Print the table of a saved report (e.g. var/bench/latest.json) and exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["table_from"]:
            report = json.loads(Path(options["table_from"]).read_text())
            self.stdout.write(format_table(report))
            self.stdout.write(machine_line(report))
            if options["publish"]:
                self._publish(report)
            return
        if options["list"]:
            for name, stage in load_stages().items():
                self.stdout.write(f"{name:12} {stage.title}")
            return
        if options["publish"] and options["only"]:
            raise CommandError("--publish needs a full run (no --only): README shows every stage of one run")
        scale = options["scale"] if options["scale"] is not None else bench_scale()
        if not scale > 0:
            raise CommandError("--scale must be a positive number")
        os.environ["BENCH_SCALE"] = repr(scale)
        try:
            report = run_suite(options["only"], scale)
        except ValueError as error:
            raise CommandError(str(error)) from error
        path = write_latest(report)
        self.stdout.write(format_table(report))
        self.stdout.write(f"{machine_line(report)}; written to {path}")
        if options["publish"]:
            self._publish(report)
        self.stdout.write(json.dumps(report, separators=(",", ":")))
        sys.stdout.flush()
        if report["summary"]["errors"]:
            sys.exit(1)

    def _publish(self, report: dict[str, Any]) -> None:
        for path in publish(report, Path(settings.BASE_DIR)):
            self.stderr.write(f"[bench] published to {path}")
