"""Drive ``manage.py serve`` with prepared ``POST /api/v1/events`` batches (used by several stages)."""

from __future__ import annotations

import re
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from analytics.devtools.bench.helpers import (
    manage_py,
    stop_process,
)
from analytics.devtools.bench.httpload import LoadResult, build_request, post_all, post_one
from analytics.devtools.bench.registry import Unavailable
from analytics.devtools.ports import free_port, wait_for_port
from analytics.devtools.procstat import cpu_seconds, peak_rss_mb, rss_mb

EVENTS_PATH = "/api/v1/events"
# The embedded batch writer's histograms (analytics/streams/metrics.py): whether it was the
# bottleneck of a run (busy the whole load) and how large its flushes were.
_WRITER_SERIES = re.compile(r"^(ingest_batch_writer_flush_(?:duration_seconds|rows)_(?:sum|count)) ([0-9.e+-]+)$", re.M)


@dataclass
class ServeRun:
    load: LoadResult
    events_sent: int
    idle_rss_mb: float | None
    peak_rss_mb: float | None
    # Server CPU seconds (all threads) during the load, and the batch writer's series over it.
    server_cpu_seconds: float | None = None
    writer: dict[str, float] = field(default_factory=dict)

    def writer_details(self) -> dict[str, float | None]:
        """Server CPU per event, the writer's busy share of the load and its mean flush (embedded mode)."""
        accepted = self.load.accepted or None
        flushes = self.writer.get("ingest_batch_writer_flush_rows_count")
        busy = self.writer.get("ingest_batch_writer_flush_duration_seconds_sum")
        return {
            "server_cpu_us_per_event": (
                round(self.server_cpu_seconds / accepted * 1e6, 1) if self.server_cpu_seconds and accepted else None
            ),
            "writer_busy_share": round(busy / self.load.seconds, 2) if busy is not None and self.load.seconds else None,
            "writer_mean_flush_rows": (
                round(self.writer["ingest_batch_writer_flush_rows_sum"] / flushes) if flushes else None
            ),
        }


def batch_bodies(events: list[dict[str, Any]], batch_size: int = 100) -> list[tuple[bytes, int]]:
    """JSON bodies of ``batch_size`` events each, with the number of events in each."""
    return [
        (orjson.dumps({"batch": events[i : i + batch_size]}), len(events[i : i + batch_size]))
        for i in range(0, len(events), batch_size)
    ]


def serve_and_post(
    env: dict[str, str], workdir: Path, write_key: str, bodies: list[tuple[bytes, int]], *, connections: int = 8
) -> ServeRun:
    """Start one web process, probe the endpoint with the first body, post the rest, stop it.

    Raises Unavailable when the endpoint does not exist yet (404/405) or the server cannot start.
    """
    port = free_port()
    process = manage_py(
        "serve", "--host", "127.0.0.1", "--port", str(port), "--no-beat", env=env, log_path=workdir / "serve.log"
    )
    try:
        try:
            wait_for_port(port, process)
        except RuntimeError as error:
            tail = (workdir / "serve.log").read_text(errors="replace")[-400:]
            raise Unavailable(f"manage.py serve did not start ({error}): {tail}") from error
        headers = {"X-Api-Key": write_key}
        probe_status, probe_body = post_one(
            "127.0.0.1", port, build_request("127.0.0.1", port, EVENTS_PATH, bodies[0][0], headers)
        )
        if probe_status in (404, 405):
            raise Unavailable(f"POST {EVENTS_PATH} answers {probe_status}: the ingestion API has not landed")
        if probe_status >= 300:
            raise RuntimeError(f"POST {EVENTS_PATH} probe answered {probe_status}: {probe_body[:300]!r}")
        idle = rss_mb(process.pid)
        requests = [(build_request("127.0.0.1", port, EVENTS_PATH, body, headers), count) for body, count in bodies[1:]]
        writer_before = _writer_series(port)
        cpu_before = cpu_seconds(process.pid)
        load = post_all("127.0.0.1", port, requests, connections=connections)
        cpu_after = cpu_seconds(process.pid)
        peak = peak_rss_mb(process.pid)
        return ServeRun(
            load=load,
            events_sent=sum(count for _, count in bodies[1:]),
            idle_rss_mb=idle,
            peak_rss_mb=peak,
            server_cpu_seconds=cpu_after - cpu_before,
            writer={name: value - writer_before.get(name, 0.0) for name, value in _writer_series(port).items()},
        )
    finally:
        stop_process(process)


def _writer_series(port: int) -> dict[str, float]:
    """The batch writer's flush series from the server's /metrics (empty when unreadable)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {name: float(value) for name, value in _WRITER_SERIES.findall(text)}
