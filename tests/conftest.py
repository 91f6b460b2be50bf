"""Test session setup: real PostgreSQL, Redis, chDB, and (on demand) a Kafka-protocol broker.

PostgreSQL and Redis must be running; if either cannot be reached the session stops at
once with a message saying what to start. Nothing is skipped silently.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import orjson
import psycopg
import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from analytics.devtools.devbroker import Broker, start_broker
from analytics.warehouse.migrator import Migrator
from analytics.warehouse.store import close_store, get_store
from tests.factories import member_with_project


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    database = settings.DATABASES["default"]
    redis = urlparse(settings.REDIS_URL)
    missing = []
    if not _reachable(database.get("HOST") or "127.0.0.1", int(database.get("PORT") or 5432)):
        missing.append(
            f"PostgreSQL at {database.get('HOST')}:{database.get('PORT')} "
            "(start it, e.g. `pg_ctlcluster 15 main start`, or set DATABASE_URL)"
        )
    if not _reachable(redis.hostname or "127.0.0.1", redis.port or 6379):
        missing.append(f"Redis at {redis.hostname}:{redis.port} (start redis-server, or set REDIS_URL)")
    if missing:
        raise pytest.UsageError(
            "The test suite needs real services that are not reachable:\n  - " + "\n  - ".join(missing)
        )
    _drop_databases_of_dead_runs(database)


def _drop_databases_of_dead_runs(database: dict) -> None:
    """Drop ``test_analytics_<pid>`` databases left by runs that died or could not tear down.

    Each run names its test database after its process id (config/settings/test.py); a
    database whose process is gone belongs to nobody, and without this they pile up.
    """
    pattern = re.compile(r"^test_analytics_(\d+)$")
    try:
        with psycopg.connect(
            host=database.get("HOST") or "127.0.0.1",
            port=int(database.get("PORT") or 5432),
            user=database.get("USER") or "postgres",
            password=database.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as connection:
            names = [row[0] for row in connection.execute("SELECT datname FROM pg_database")]
            for name in names:
                match = pattern.match(name)
                if not match or _process_alive(int(match.group(1))) or int(match.group(1)) == os.getpid():
                    continue
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error:
        return  # housekeeping only; the run itself reports real database problems


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@pytest.fixture(scope="session")
def clickhouse_store(django_db_setup: None) -> Iterator[object]:
    """The chDB-backed event store of this test run, migrated once."""
    store = get_store()
    Migrator(store).migrate()
    yield store
    close_store()
    url = urlparse(settings.CLICKHOUSE_URL)
    if url.scheme == "chdb":
        shutil.rmtree(Path(url.netloc + url.path), ignore_errors=True)


@pytest.fixture
def store(clickhouse_store: object) -> object:
    return clickhouse_store


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[Broker]:
    """A Tansu Kafka-protocol broker on a free port, for the whole session."""
    broker = start_broker()
    yield broker
    broker.stop()


@pytest.fixture(autouse=True)
def _clear_cache() -> Iterator[None]:
    yield
    # Only this run's keys: django-redis's clear() is FLUSHDB, which would also wipe the keys
    # (throttle counters, cached lookups) of other test runs sharing the Redis database.
    delete_pattern = getattr(cache, "delete_pattern", None)
    if delete_pattern is not None:
        delete_pattern("*")
    else:
        cache.clear()


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_page() -> Iterator[Any]:
    """A page of Debian's headless Chromium, driven by Playwright."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the browser tests load Playwright

    # Playwright's sync API runs an event loop in this thread; our DB calls here are still sync.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page()
            yield page
            browser.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


# Shared by the ingestion and stream tests: a member's project with a write key, and posting to it.
@pytest.fixture
def owner_and_project(db: None, store: object) -> tuple[Any, Any]:
    return member_with_project()


@pytest.fixture
def project(owner_and_project: tuple[Any, Any]) -> Any:
    return owner_and_project[1]


@pytest.fixture
def post(client: Client) -> Callable[..., Any]:
    """POST raw bytes or a JSON-able body to a path (default: the native endpoint)."""

    def send(
        body: Any,
        *,
        key: str | None = None,
        path: str = "/api/v1/events",
        gzip_body: bool = False,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> Any:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        all_headers = dict(headers or {})
        if key:
            all_headers.setdefault("X-Api-Key", key)
        if gzip_body:
            data = gzip.compress(data)
            all_headers["Content-Encoding"] = "gzip"
        return client.post(path, data=data, content_type="application/json", headers=all_headers, **extra)

    return send
