"""Drive ``manage.py serve`` with prepared ``POST /api/v1/events`` batches (used by several stages)."""

from __future__ import annotations

from dataclasses import dataclass
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
from analytics.devtools.procstat import peak_rss_mb, rss_mb

EVENTS_PATH = "/api/v1/events"


@dataclass
class ServeRun:
    load: LoadResult
    events_sent: int
    idle_rss_mb: float | None
    peak_rss_mb: float | None


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
        load = post_all("127.0.0.1", port, requests, connections=connections)
        peak = peak_rss_mb(process.pid)
        return ServeRun(
            load=load, events_sent=sum(count for _, count in bodies[1:]), idle_rss_mb=idle, peak_rss_mb=peak
        )
    finally:
        stop_process(process)
