"""A bad setting stops start-up with one line that names it (manage.py exits with status 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Variables of this test run that would mask what the child process should decide itself.
_RUN_VARIABLES = ("DJANGO_SETTINGS_MODULE", "ANALYTICS_PROFILE", "ANALYTICS_MODE", "CLICKHOUSE_URL", "DATABASE_URL")


def manage_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    child_env = {key: value for key, value in os.environ.items() if key not in _RUN_VARIABLES}
    child_env.update({"DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "named", "expected"),
    [
        ({"ANALYTICS_MODE": "foo"}, "ANALYTICS_MODE", "one of embedded|scale"),
        ({"ANALYTICS_PROFILE": "staging"}, "ANALYTICS_PROFILE", "one of dev|test|prod"),
        ({"PORT": "abc"}, "PORT", "a whole number"),
        ({"PORT": "70000"}, "PORT", "<= 65535"),
        ({"DEBUG": "maybe"}, "DEBUG", "a boolean"),
        ({"AUTH_RATE_LIMIT": "lots"}, "AUTH_RATE_LIMIT", "a rate such as 30/min"),
        ({"CLICKHOUSE_URL": "mysql://db/events"}, "CLICKHOUSE_URL", "chdb|clickhouse|clickhouses"),
        ({"ANALYTICS_PROFILE": "prod", "ALLOWED_HOSTS": "example.com"}, "SECRET_KEY", "it is required"),
        (
            {"ANALYTICS_PROFILE": "prod", "SECRET_KEY": "short", "ALLOWED_HOSTS": "example.com"},
            "SECRET_KEY",
            "at least 50 random",
        ),
        (
            {"ANALYTICS_PROFILE": "prod", "SECRET_KEY": "ab" * 40, "ALLOWED_HOSTS": "example.com"},
            "SECRET_KEY",
            "5+ distinct",
        ),
        ({"ANALYTICS_PROFILE": "prod", "SECRET_KEY": "k3Y-p9" * 10}, "ALLOWED_HOSTS", "required in prod"),
        (
            {"ANALYTICS_MODE": "scale", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres"},
            "KAFKA_BOOTSTRAP_SERVERS",
            "required in scale mode",
        ),
        ({"ANALYTICS_MODE": "scale", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}, "DATABASE_URL", "it is required"),
    ],
)
def test_bad_setting_stops_start_up_with_one_line_naming_it(
    tmp_path: Path, env: dict[str, str], named: str, expected: str
) -> None:
    result = manage_check(tmp_path, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {named}: expected")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_good_settings_pass_the_check(tmp_path: Path) -> None:
    result = manage_check(tmp_path, PORT="8123", ANALYTICS_PROFILE="dev")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_prod_profile_with_required_values_passes_the_deploy_check(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "security", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={
            **{key: value for key, value in os.environ.items() if key not in _RUN_VARIABLES},
            "DATA_DIR": str(tmp_path),
            "ANALYTICS_PROFILE": "prod",
            "SECRET_KEY": "a-production-secret-" + "x7Q" * 20,
            "ALLOWED_HOSTS": "analytics.example.com",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-c", "import config.asgi"],
        [sys.executable, "-m", "celery", "-A", "config.celery_app", "report"],
    ],
    ids=["asgi", "celery"],
)
def test_other_entry_points_stop_with_the_same_one_line(tmp_path: Path, command: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if key not in _RUN_VARIABLES}
    env.update({"DATA_DIR": str(tmp_path), "PORT": "abc"})
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "configuration error: PORT: expected a whole number, got 'abc'"
