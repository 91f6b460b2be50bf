"""docker/: the compose file and the image speak the same setting names as config/.

The stack cannot run here (no Docker), so these tests check what can drift silently:
every variable the app containers get is one the settings read, the scale+prod
environment of compose passes settings validation and Django's deploy checks, and every
service has a health check or says why not.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from django.core.management import get_commands

from config.variables import registry

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
_SUBSTITUTION = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")
# Read by the entry points, not by config/settings.
_OUTSIDE_SETTINGS = {"DJANGO_SETTINGS_MODULE"}


def settings_variables() -> set[str]:
    """The declared variables (config/variables.py): the settings read no other."""
    return {variable.name for variable in registry}


def app_environment() -> dict[str, str]:
    env = COMPOSE["x-app"]["environment"]
    overrides = {"SECRET_KEY": "compose-check-" + "Zk4-q9" * 10, "POSTGRES_PASSWORD": "pw", "CLICKHOUSE_PASSWORD": "pw"}

    def substitute(value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group("name")
            if name in overrides:
                return overrides[name]
            return match.group("arg") if match.group("op") == "-" else ""

        return _SUBSTITUTION.sub(one, str(value))

    return {name: substitute(value) for name, value in env.items()}


def test_every_app_variable_in_compose_is_read_by_the_settings() -> None:
    unknown = set(app_environment()) - settings_variables() - _OUTSIDE_SETTINGS
    assert not unknown, f"compose sets variables no setting reads: {sorted(unknown)}"


def test_every_variable_in_the_dockerfile_is_read_by_the_settings() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    block = dockerfile.split("ENV PATH=", 1)[1].split("\n\n", 1)[0]
    names = set(re.findall(r"\b([A-Z][A-Z0-9_]+)=", block)) - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"}
    assert names - settings_variables() - _OUTSIDE_SETTINGS == set()


def test_compose_environment_passes_settings_validation_and_deploy_checks(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "ANALYTICS_"))}
    env.pop("DATABASE_URL", None)
    env.pop("CLICKHOUSE_URL", None)
    env.update(app_environment())
    env["DATA_DIR"] = str(tmp_path)
    env["STATIC_ROOT"] = str(tmp_path / "static")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--tag", "security"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_long_running_service_has_a_health_check_or_disables_it_on_purpose() -> None:
    for name, service in COMPOSE["services"].items():
        if service.get("restart") == "no":
            continue  # one-shot jobs
        assert "healthcheck" in service, name


def test_app_services_wait_for_migrations_and_run_the_right_commands() -> None:
    services = COMPOSE["services"]
    for name in ("web", "consumer", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
    assert services["consumer"]["command"][0] == "consume_events"
    assert "clickhouse_migrate" in services["migrate"]["command"][0]
    assert services["worker"]["command"][:4] == ["celery", "-A", "config.celery_app", "worker"]


def test_image_runs_as_non_root_under_tini_with_a_health_check() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert re.search(r"^USER analytics$", dockerfile, re.M)
    assert 'ENTRYPOINT ["/usr/bin/tini", "--"' in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert "/healthz" in dockerfile
    assert "collectstatic" in dockerfile


def test_commands_in_compose_exist() -> None:
    services = COMPOSE["services"]
    for name in ("web", "consumer"):
        assert services[name]["command"][0] in get_commands(), name


def test_production_leaves_the_development_tools_out(tmp_path: Path) -> None:
    """The prod profile does not install analytics.devtools, and the image does not carry it."""
    assert re.search(r"^RUN rm -rf analytics/devtools$", (ROOT / "docker" / "Dockerfile").read_text(), re.M)
    env = {
        **os.environ,
        "ANALYTICS_PROFILE": "prod",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "prod-check-" + "Zk4-q9" * 10,
        "ALLOWED_HOSTS": "example.com",
        "DATA_DIR": str(tmp_path),
    }
    code = "import django; django.setup(); from django.conf import settings; print(','.join(settings.INSTALLED_APPS))"
    for profile, installed in (("prod", False), ("dev", True)):
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={**env, "ANALYTICS_PROFILE": profile},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        assert ("analytics.devtools" in result.stdout.strip().split(",")) is installed, result.stdout
