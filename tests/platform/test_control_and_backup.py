"""Commands beside a running embedded server (control socket), and backup/restore.

`manage.py serve` runs as a subprocess on a free port with its own DATA_DIR. While it
serves, `aggregate_backfill --from --to`, `aggregate --once`, `clickhouse_migrate` and
`backup` run inside it (their output streamed back), `aggregate` (endless), `restore` and
any other command that opens the store are refused at once with one line. Then: stop, count, wipe, restore, count again: the
counts of every Django table and every store table are identical.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.devtools.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
_RUN_VARIABLES = ("DJANGO_SETTINGS_MODULE", "ANALYTICS_PROFILE", "ANALYTICS_MODE", "CLICKHOUSE_URL", "DATABASE_URL")
DEMO_EVENTS = 400
LOADGEN_EVENTS = 200

pytestmark = pytest.mark.slow

COUNT_SCRIPT = """
import json, sqlite3
from django.conf import settings
from analytics.warehouse.backup import store_row_counts
from analytics.warehouse.store import get_store
with sqlite3.connect(settings.DATABASES["default"]["NAME"]) as db:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    django_rows = {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
print(json.dumps({"django": django_rows, "store": store_row_counts(get_store())}))
"""


def manage(
    env: dict[str, str], *args: str, timeout: float = 300, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        timeout=timeout,
        capture_output=True,
        text=True,
        input=stdin,
    )


def counts(env: dict[str, str]) -> dict[str, dict[str, int]]:
    result = manage(env, "shell", "-c", COUNT_SCRIPT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _RUN_VARIABLES}
    env.update({"DATA_DIR": str(tmp_path / "data"), "ANALYTICS_MODE": "embedded", "ANALYTICS_PROFILE": "dev"})
    for command in (
        ["migrate", "--noinput", "-v0"],
        ["clickhouse_migrate"],
        ["bootstrap", "--events", str(DEMO_EVENTS)],
    ):
        result = manage(env, *command)
        assert result.returncode == 0, result.stderr
    write_key = re.search(r"write key (wk_[A-Za-z0-9_-]+)", result.stdout)
    assert write_key, result.stdout
    env["TEST_WRITE_KEY"] = write_key.group(1)
    return env


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port), "--no-beat"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None, log_path.read_text()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.2)
            else:
                pytest.fail("serve did not open its port within 60 s:\n" + log_path.read_text())
            yield process, port
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def test_commands_run_inside_the_live_server_and_a_backup_restores_identical_counts(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    env = embedded_env
    backup_dir = tmp_path / "backup"
    now = datetime.now(UTC)
    with running_server(env, tmp_path / "serve.log") as (server, port):
        assert (Path(env["DATA_DIR"]) / "control.sock").exists()
        # Events arrive while serving (loadgen, with its progress bar).
        load = manage(
            env,
            "loadgen",
            "--write-key",
            env["TEST_WRITE_KEY"],
            "--target",
            f"http://127.0.0.1:{port}",
            "--events",
            str(LOADGEN_EVENTS),
            "--workers",
            "1",
            "--json",
        )
        assert load.returncode == 0, load.stderr
        assert json.loads(load.stdout.strip().splitlines()[-1])["sent"] == LOADGEN_EVENTS
        assert f"{LOADGEN_EVENTS}/{LOADGEN_EVENTS}" in load.stderr  # the bar, complete
        started = time.monotonic()
        backfill = manage(
            env,
            "aggregate_backfill",
            "--from",
            (now - timedelta(days=40)).date().isoformat(),
            "--to",
            now.date().isoformat(),
            "--granularity",
            "1d",
        )
        assert backfill.returncode == 0, backfill.stderr + backfill.stdout
        assert "EmbeddedServer" not in backfill.stderr
        assert "events=" in backfill.stdout
        assert "━" in backfill.stdout  # the progress bar came back through the socket

        refused = manage(env, "aggregate")
        assert refused.returncode != 0
        message_lines = [line for line in refused.stderr.splitlines() if line.strip()]
        assert len(message_lines) == 1, refused.stderr
        assert "aggregate --once" in message_lines[0]

        once = manage(env, "aggregate", "--once")
        assert once.returncode == 0, once.stderr
        assert "project" in once.stdout

        plan = manage(env, "clickhouse_migrate", "--plan")
        assert plan.returncode == 0, plan.stderr
        assert "No pending ClickHouse migrations." in plan.stdout

        restore_refused = manage(env, "restore", str(backup_dir), "--yes")
        assert restore_refused.returncode != 0
        assert "stop it" in restore_refused.stderr
        assert len([line for line in restore_refused.stderr.splitlines() if line.strip()]) == 1

        # Any other command that opens the store: one line, not chDB's traceback.
        held = manage(env, "bootstrap", "--events", "0")
        assert held.returncode != 0
        held_lines = [line for line in held.stderr.splitlines() if line.strip()]
        assert len(held_lines) == 1, held.stderr
        assert "open in the running `manage.py serve`" in held_lines[0]

        backup = manage(env, "backup", str(backup_dir))
        assert backup.returncode == 0, backup.stderr + backup.stdout
        assert "backup written" in backup.stdout
        # The server's store still answers after the backup's own session closed.
        after_backup = manage(env, "clickhouse_migrate", "--plan")
        assert after_backup.returncode == 0, after_backup.stderr
        assert "No pending ClickHouse migrations." in after_backup.stdout
        assert time.monotonic() - started < 240
        assert server.poll() is None  # the server kept serving throughout
    assert server.returncode == 0

    before = counts(env)
    assert before["store"]["events"] == DEMO_EVENTS + LOADGEN_EVENTS
    assert before["django"]["aggregation_rollup"] > 0  # the backfill's rows are in the backup

    data_dir = Path(env["DATA_DIR"])
    for child in data_dir.iterdir():  # wipe: everything but the secret key
        if child.name != "secret_key":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    assert not (data_dir / "analytics.sqlite3").exists()

    restore = manage(env, "restore", str(backup_dir), "--yes")
    assert restore.returncode == 0, restore.stderr + restore.stdout
    assert "all row counts match" in restore.stdout
    after = counts(env)
    assert after == before

    # The restored instance serves again.
    with running_server(env, tmp_path / "serve-again.log") as (server, _port):
        assert server.poll() is None
