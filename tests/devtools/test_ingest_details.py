"""The http stage's writer figures: parsed from the real Prometheus exposition of the writer's histograms."""

from __future__ import annotations

import prometheus_client

from analytics.devtools.bench.httpload import LoadResult
from analytics.devtools.bench.ingest import _WRITER_SERIES, ServeRun
from analytics.streams import metrics


def test_writer_series_are_read_from_the_exposition_and_summarised() -> None:
    exposition = prometheus_client.generate_latest().decode()
    before = {name: float(value) for name, value in _WRITER_SERIES.findall(exposition)}
    metrics.BATCH_FLUSH_SECONDS.observe(0.5)
    metrics.BATCH_FLUSH_SECONDS.observe(1.0)
    metrics.BATCH_FLUSH_ROWS.observe(300)
    metrics.BATCH_FLUSH_ROWS.observe(500)
    after = {name: float(value) for name, value in _WRITER_SERIES.findall(prometheus_client.generate_latest().decode())}
    assert set(after) == {
        "ingest_batch_writer_flush_duration_seconds_sum",
        "ingest_batch_writer_flush_duration_seconds_count",
        "ingest_batch_writer_flush_rows_sum",
        "ingest_batch_writer_flush_rows_count",
    }
    writer = {name: value - before.get(name, 0.0) for name, value in after.items()}

    run = ServeRun(
        load=LoadResult(accepted=800, seconds=3.0),
        events_sent=800,
        idle_rss_mb=None,
        peak_rss_mb=None,
        server_cpu_seconds=0.04,
        writer=writer,
    )

    assert run.writer_details() == {
        "server_cpu_us_per_event": 50.0,
        "writer_busy_share": 0.5,
        "writer_mean_flush_rows": 400,
    }


def test_without_writer_series_the_figures_are_absent() -> None:
    run = ServeRun(load=LoadResult(accepted=0, seconds=0.0), events_sent=0, idle_rss_mb=None, peak_rss_mb=None)

    assert run.writer_details() == {
        "server_cpu_us_per_event": None,
        "writer_busy_share": None,
        "writer_mean_flush_rows": None,
    }
