"""Start a throwaway ClickHouse server (Debian's clickhouse-server 18.16, or an official
build) on free local ports with its own config and data directory.

The process runs in the foreground (not daemonised) as a child of the test process and
is stopped at teardown. Running as root needs nothing special for 18.16; the config
keeps everything (data, tmp, user files, logs) inside the temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from clickhouse_driver import Client

from analytics.devtools.ports import free_port

CANDIDATES = ("clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "/usr/bin/clickhouse")
MISSING_MESSAGE = (
    "No ClickHouse server binary found (looked for {candidates}; CLICKHOUSE_SERVER_BINARY names one). "
    "The clickhouse-driver wire path is "
    "tested against a real server: install Debian's package with `apt-get install -y clickhouse-server` "
    "(.ci/run does this when it runs as root)."
)

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{root}/log/server.log</log><errorlog>{root}/log/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{root}/data/</path>
  <tmp_path>{root}/tmp/</tmp_path>
  <user_files_path>{root}/user_files/</user_files_path>
  <format_schema_path>{root}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>20</max_concurrent_queries>
  <timezone>UTC</timezone>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <profiles><default><max_threads>2</max_threads></default></profiles>
  <quotas><default></default></quotas>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
</yandex>
"""


def find_binary() -> list[str] | None:
    """The command that starts a server, or None when none is installed.

    ``CLICKHOUSE_SERVER_BINARY`` names one explicitly (and only that one is tried).
    """
    explicit = os.environ.get("CLICKHOUSE_SERVER_BINARY")
    for candidate in (explicit,) if explicit else CANDIDATES:
        path = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if path:
            # The official single binary takes the tool name as its first argument.
            return [path, "server"] if Path(path).name == "clickhouse" else [path]
    return None


@dataclass
class ClickHouseServer:
    process: subprocess.Popen[bytes]
    root: Path
    tcp_port: int

    @property
    def url(self) -> str:
        return f"clickhouse://default@127.0.0.1:{self.tcp_port}/default"

    def log_tail(self) -> str:
        parts = []
        for name in ("log/error.log", "log/server.log", "stderr.txt"):
            path = self.root / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-3000:])
        return "\n".join(parts)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: the server vanishes with its connections open (a crash, a lost host)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(command: list[str], *, timeout: float = 60.0) -> ClickHouseServer:
    """Start a server and wait until it answers ``SELECT 1`` on the native port."""
    root = Path(tempfile.mkdtemp(prefix="analytics-clickhouse-"))
    for sub in ("data", "tmp", "user_files", "format_schemas", "log"):
        (root / sub).mkdir()
    tcp_port, http_port = free_port(), free_port()
    config = root / "config.xml"
    config.write_text(CONFIG.format(root=root, tcp_port=tcp_port, http_port=http_port))
    stderr = (root / "stderr.txt").open("wb")
    process = subprocess.Popen(
        [*command, f"--config-file={config}"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
    )
    server = ClickHouseServer(process=process, root=root, tcp_port=tcp_port)
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = server.log_tail()
            server.cleanup()
            raise RuntimeError(f"clickhouse-server exited with {process.returncode}:\n{tail}")
        try:
            client = Client(host="127.0.0.1", port=tcp_port, connect_timeout=1, send_receive_timeout=5)
            client.execute("SELECT 1")
            client.disconnect()
            return server
        except Exception as error:  # not listening yet
            last_error = error
            time.sleep(0.2)
    tail = server.log_tail()
    server.cleanup()
    raise RuntimeError(f"clickhouse-server did not answer within {timeout:.0f}s ({last_error}):\n{tail}")
