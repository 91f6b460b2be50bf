"""`manage.py serve` really serves HTTP and WebSockets in embedded mode and stops cleanly."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from analytics.devtools.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
_RUN_VARIABLES = ("DJANGO_SETTINGS_MODULE", "ANALYTICS_PROFILE", "ANALYTICS_MODE", "CLICKHOUSE_URL", "DATABASE_URL")

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture
def embedded_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a fresh embedded install whose data lives in tmp_path."""
    env = {key: value for key, value in os.environ.items() if key not in _RUN_VARIABLES}
    env.update({"DATA_DIR": str(tmp_path), "ANALYTICS_MODE": "embedded", "ANALYTICS_PROFILE": "dev"})
    for command in (["migrate", "--noinput", "-v0"], ["clickhouse_migrate"]):
        subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True, timeout=300, capture_output=True
        )
    return env


@contextmanager
def running_server(env: dict[str, str], log_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`manage.py serve` on a free port, up and accepting; killed if the test did not stop it."""
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
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
            process.kill()
            process.wait(timeout=10)
        log.close()


@pytest.fixture
def server(embedded_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    with running_server(embedded_env, tmp_path / "serve.log") as running:
        yield running


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_answers_probes_and_exits_0_on_stop_signal(
    server: tuple[subprocess.Popen[str], int], stop_signal: signal.Signals, tmp_path: Path
) -> None:
    process, port = server
    status, body = get(f"http://127.0.0.1:{port}/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, body = get(f"http://127.0.0.1:{port}/readyz")
    assert status == 200, body
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok",
        "event_store": "ok",
        "cache": "ok",
        "bus": "ok",
    }
    process.send_signal(stop_signal)
    assert process.wait(timeout=30) == 0
    output = (tmp_path / "serve.log").read_text()
    assert '"event": "serve.stopped"' in output


_MAKE_MEMBER_SESSION = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from analytics.accounts.models import User
from analytics.accounts.services import project_create
user = User.objects.create_user(email="live@example.com", password="a-long-test-passphrase")
project = project_create(user=user, name="Live")
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(session.session_key, project.id)
"""


def test_serve_speaks_websocket_to_members_and_refuses_anonymous_clients(
    embedded_env: dict[str, str], server: tuple[subprocess.Popen[str], int]
) -> None:
    process, port = server
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", _MAKE_MEMBER_SESSION],
        cwd=ROOT,
        env=embedded_env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    session_key, project_id = made.stdout.split()[-2:]
    with connect(
        f"ws://127.0.0.1:{port}/ws/live/?project={project_id}",
        origin=f"http://127.0.0.1:{port}",
        additional_headers={"Cookie": f"sessionid={session_key}"},
        open_timeout=10,
    ) as member_socket:
        assert member_socket.response.status_code == 101
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{port}/ws/live/?project=1", origin=f"http://127.0.0.1:{port}", open_timeout=10)
    # Channels closes before accepting, which the server answers with 403 on the handshake.
    assert refused.value.response.status_code == 403
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def _login_to_admin(base: str, email: str, password: str) -> str:
    """Log in through the real admin form (CSRF and all); returns the admin index HTML."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/admin/login/", timeout=10).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": email, "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"}
    ).encode()
    request = urllib.request.Request(f"{base}/admin/login/", data=form, headers={"Referer": f"{base}/admin/login/"})
    return opener.open(request, timeout=10).read().decode()


def test_make_run_sequence_serves_the_demo_project_and_the_printed_admin_login(
    embedded_env: dict[str, str], tmp_path: Path
) -> None:
    """What `make run` does after installing: migrate, clickhouse_migrate, bootstrap, serve."""
    env = {**embedded_env, "DEMO_EVENTS": "3000"}
    bootstrap = subprocess.run(
        [sys.executable, "manage.py", "bootstrap"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    email = re.search(r"log in as:\s+(\S+)", bootstrap.stdout).group(1)
    password = re.search(r"password:\s+(\S+)\s+\(shown once", bootstrap.stdout).group(1)
    assert "3,000 events" in bootstrap.stdout
    with running_server(env, tmp_path / "serve.log") as (process, port):
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/healthz")[0] == 200
        assert get(f"{base}/readyz")[0] == 200
        with urllib.request.urlopen(f"{base}/api/schema/", timeout=10) as schema:
            assert schema.status == 200
        admin_index = _login_to_admin(base, email, password)
        assert "Site administration" in admin_index
        token_request = urllib.request.Request(
            f"{base}/api/v1/auth/token",
            data=json.dumps({"email": email, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(token_request, timeout=10) as response:
            access = json.loads(response.read())["access"]
        projects = urllib.request.Request(f"{base}/api/v1/projects", headers={"Authorization": f"Bearer {access}"})
        with urllib.request.urlopen(projects, timeout=10) as response:
            demo = json.loads(response.read())[0]
        count = urllib.request.Request(
            f"{base}/api/v1/projects/{demo['id']}/events/count?from=2000-01-01T00:00:00Z",
            headers={"Authorization": f"Bearer {access}"},
        )
        with urllib.request.urlopen(count, timeout=10) as response:
            assert json.loads(response.read())["count"] == 3000
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_serve_migrate_starts_from_an_empty_data_directory(tmp_path: Path) -> None:
    """The Docker image's default command: `serve --migrate` on a fresh volume."""
    env = {key: value for key, value in os.environ.items() if key not in _RUN_VARIABLES}
    env.update({"DATA_DIR": str(tmp_path / "data"), "ANALYTICS_MODE": "embedded", "ANALYTICS_PROFILE": "dev"})
    log_path = tmp_path / "serve.log"
    port = free_port()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--migrate", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            status = 0
            while time.monotonic() < deadline and status != 200:
                assert process.poll() is None, log_path.read_text()
                try:
                    status = get(f"http://127.0.0.1:{port}/readyz")[0]
                except OSError:
                    status = 0
                if status != 200:
                    time.sleep(0.3)
            assert status == 200, log_path.read_text()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)
