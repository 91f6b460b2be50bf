"""Local ports for the processes that tests, benchmarks and ``manage.py e2e`` start."""

from __future__ import annotations

import socket
import subprocess
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, process: subprocess.Popen[bytes], timeout: float = 60.0, *, name: str = "process", interval: float = 0.2
) -> None:
    """Return once something accepts connections on ``port``; raise if ``process`` exits
    first or nothing listens within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(interval)
    raise RuntimeError(f"{name} did not listen on {port} within {timeout:.0f}s")
