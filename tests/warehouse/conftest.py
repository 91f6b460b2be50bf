"""Fixtures of the event-store tests: a real ClickHouse server for the wire path."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.warehouse.clickhouse_server import CANDIDATES, MISSING_MESSAGE, ClickHouseServer, find_binary, start_server


@pytest.fixture(scope="session")
def clickhouse_server_command() -> list[str]:
    """The server binary; a missing one FAILS the tests that need it (never a skip)."""
    command = find_binary()
    if command is None:
        looked_for = os.environ.get("CLICKHOUSE_SERVER_BINARY") or ", ".join(CANDIDATES)
        pytest.fail(MISSING_MESSAGE.format(candidates=looked_for), pytrace=False)
    return command


@pytest.fixture(scope="module")
def clickhouse_server(clickhouse_server_command: list[str]) -> Iterator[ClickHouseServer]:
    """One server process for a test module, on free ports with a temporary data directory."""
    server = start_server(clickhouse_server_command)
    yield server
    server.cleanup()


@pytest.fixture
def start_clickhouse_server(clickhouse_server_command: list[str]) -> Iterator[Callable[[], ClickHouseServer]]:
    """Start extra servers a test may stop on purpose; all are cleaned up afterwards."""
    started: list[ClickHouseServer] = []

    def start() -> ClickHouseServer:
        server = start_server(clickhouse_server_command)
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()
