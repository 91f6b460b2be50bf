"""Stage 5b: the aggregation watermark lag while ingestion runs at a sustained rate.

One embedded ``manage.py serve`` (the web server and the in-process beat that dispatches
every aggregation stream) receives 20,000 events/s (times BENCH_SCALE) for 60 s, in
100-event batches without timestamps (so each event's time is its receive time), from the
bench's own paced HTTP client. Every 2 s the stage reads the 1-minute stream's watermark
from the SQLite database (read-only, WAL) and records ``now - event_time_mark``, the
definition of the ``watermark_lag_seconds`` metric. Baseline: the lag a zero-cost
aggregator would show at the same instants with the same settings
(``lateness + (now - lateness) mod 60 s``), so the ratio shows what the runs add.
Target (issue 6): p95 under 90 s.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime

import orjson

from analytics.aggregation.models import Watermark
from analytics.devtools.bench.data import DataSpec, iter_batches
from analytics.devtools.bench.helpers import manage_py, prepare_product, product_env, stop_process
from analytics.devtools.bench.httpload import build_request, post_paced
from analytics.devtools.bench.registry import Metric, StageContext, at_most, stage
from analytics.devtools.ports import free_port, wait_for_port

RATE_AT_SCALE_ONE = 20_000
DURATION_SECONDS = 60
WARMUP_SECONDS = 10
TARGET_P95_SECONDS = 90.0


def _bodies(events: int) -> list[bytes]:
    bodies = []
    spec = DataSpec(events=events, users=max(1, events // 10), batch_rows=100_000)
    for batch in iter_batches(spec):
        columns = batch.select(["event_id", "event", "distinct_id", "properties"]).to_pydict()
        items = [
            {"event_id": e, "event": n, "distinct_id": d, "properties": orjson.Fragment(p.encode())}
            for e, n, d, p in zip(
                columns["event_id"], columns["event"], columns["distinct_id"], columns["properties"], strict=True
            )
        ]
        bodies += [orjson.dumps({"batch": items[i : i + 100]}) for i in range(0, len(items), 100)]
    return bodies


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@stage("watermark", "Aggregation watermark lag (1m stream) under sustained ingestion, embedded serve", order=55)
def run(ctx: StageContext) -> list[Metric]:
    rate = max(50, int(RATE_AT_SCALE_ONE * ctx.scale))
    workdir = ctx.workdir / "serve"
    env = product_env(workdir)
    project = prepare_product(env)
    with sqlite3.connect(f"file:{workdir / 'analytics.sqlite3'}?mode=ro", uri=True, timeout=5) as connection:
        lateness = float(
            connection.execute(
                "SELECT aggregation_lateness_seconds FROM accounts_project WHERE id = ?",
                (project["project_id"],),
            ).fetchone()[0]
        )
    ctx.log("building bodies", events=rate * DURATION_SECONDS)
    bodies = _bodies(rate * DURATION_SECONDS)
    port = free_port()
    process = manage_py("serve", "--host", "127.0.0.1", "--port", str(port), env=env, log_path=workdir / "serve.log")
    samples: list[tuple[float, float]] = []  # (lag, ideal lag)
    stop = threading.Event()

    def poll() -> None:
        database = workdir / "analytics.sqlite3"
        began = time.time()
        while not stop.wait(2.0):
            try:
                with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
                    row = connection.execute(
                        f"SELECT event_time_mark FROM {Watermark._meta.db_table} "
                        "WHERE project_id = ? AND granularity = '1m'",
                        (project["project_id"],),
                    ).fetchone()
            except sqlite3.Error:
                continue
            now = time.time()
            if not row or not row[0] or now - began < WARMUP_SECONDS:
                continue
            mark = datetime.fromisoformat(str(row[0]).replace(" ", "T")).timestamp()
            samples.append((now - mark, lateness + (now - lateness) % 60))

    poller = threading.Thread(target=poll, name="bench-watermark-poll", daemon=True)
    try:
        wait_for_port(port, process)
        headers = {"X-Api-Key": project["write_key"]}
        requests = [(build_request("127.0.0.1", port, "/api/v1/events", body, headers), 100) for body in bodies]
        poller.start()
        ctx.log("sending", rate=rate, seconds=DURATION_SECONDS)
        load = post_paced("127.0.0.1", port, requests, rate=rate)
        time.sleep(5)  # one more dispatch after the last events
    finally:
        stop.set()
        if poller.is_alive():
            poller.join(timeout=10)
        stop_process(process)
    lags = [lag for lag, _ in samples]
    ideal = [lag for _, lag in samples]
    p95 = _percentile(lags, 0.95)
    metric = Metric(
        name="watermark lag p95 (1m stream)",
        figure=p95,
        unit="s",
        baseline=_percentile(ideal, 0.95),
        baseline_label="zero-cost aggregator, same lateness",
        higher_is_better=False,
        target="< 90 s",
        details={
            "rate_asked": rate,
            "events_accepted": load.accepted,
            "achieved_rate": round(load.accepted / load.seconds),
            "http_errors": load.errors,
            "samples": len(lags),
            "lag_p50": _percentile(lags, 0.5),
            "lag_max": max(lags) if lags else None,
            "project_lateness_seconds": lateness,
        },
    )
    metric.checks.append(at_most(p95, TARGET_P95_SECONDS, "p95 < 90 s"))
    return [metric]
