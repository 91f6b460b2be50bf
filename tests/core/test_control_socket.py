"""The control socket in-process: protocol, refusals, file mode, stale sockets.

The whole path through a real `manage.py serve` is in tests/platform/test_control_and_backup.py.
"""

from __future__ import annotations

import io
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management.base import CommandError
from django.test import override_settings

from analytics.core.control import (
    MAX_SOCKET_PATH,
    ControlServer,
    control_socket_path,
    run_in_server,
    server_running,
    store_held_by_server,
)


@pytest.fixture
def embedded_data_dir(tmp_path: Path) -> Iterator[Path]:
    with override_settings(DATA_DIR=tmp_path, ANALYTICS_MODE="embedded"):
        yield tmp_path


def test_a_command_runs_in_the_server_and_its_output_comes_back(embedded_data_dir: Path, store: object) -> None:
    server = ControlServer(control_socket_path())
    server.start()
    try:
        path = embedded_data_dir / "control.sock"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert server_running()
        assert "open in the running `manage.py serve`" in (store_held_by_server() or "")
        out, err = io.StringIO(), io.StringIO()
        assert run_in_server("clickhouse_migrate", [], {"plan": True}, stdout=out, stderr=err) is True
        assert "No pending ClickHouse migrations." in out.getvalue()
        # A failing command fails the client with the server's message.
        with pytest.raises(CommandError, match="--from must be before --to"):
            run_in_server(
                "aggregate_backfill",
                [],
                {"start": "2026-02-01", "end": "2026-01-01"},
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
        # Only commands made for it; restore never runs inside the server.
        for name in ("restore", "shell", "no_such_command"):
            with pytest.raises(CommandError, match="does not run"):
                run_in_server(name, [], {}, stdout=io.StringIO(), stderr=io.StringIO())
    finally:
        server.stop()
    assert not (embedded_data_dir / "control.sock").exists()
    assert not server_running()
    assert store_held_by_server() is None


def test_a_stale_socket_is_not_a_server(embedded_data_dir: Path) -> None:
    path = control_socket_path()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: a server killed with SIGKILL
    assert path.exists()
    assert not server_running()
    assert run_in_server("clickhouse_migrate", [], {}, stdout=io.StringIO(), stderr=io.StringIO()) is False


def test_no_socket_in_scale_mode_and_long_data_dirs_get_a_short_path(tmp_path: Path) -> None:
    with override_settings(DATA_DIR=tmp_path, ANALYTICS_MODE="scale"):
        server = ControlServer(control_socket_path())
        server.start()
        try:
            assert not server_running()  # clients in scale mode never hand work over
        finally:
            server.stop()
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with override_settings(DATA_DIR=deep):
        path = control_socket_path()
        assert len(str(path).encode()) <= MAX_SOCKET_PATH
        assert path != deep / "control.sock"
        with override_settings(DATA_DIR=deep / ".." / deep.name):
            assert control_socket_path() == path  # the same directory, the same socket
