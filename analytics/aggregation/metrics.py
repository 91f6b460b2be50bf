"""Prometheus metrics of the aggregation."""

from prometheus_client import Counter, Gauge, Histogram

AGGREGATION_DURATION = Histogram(
    "aggregation_duration_seconds",
    "Time of one aggregation run of a stream (project, granularity), lock to commit.",
    ["granularity"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
EVENTS_AGGREGATED = Counter(
    "events_aggregated_total", "Events read into rollups (recomputed buckets included).", ["granularity"]
)
AGGREGATION_ERRORS = Counter("aggregation_errors_total", "Failed aggregation runs by kind.", ["granularity", "kind"])
LATE_EVENTS = Counter(
    "late_events_total",
    "Events inserted after their bucket was final (timestamp behind the event-time watermark).",
    ["granularity"],
)
ROLLUP_ROWS_WRITTEN = Counter("aggregation_rollup_rows_written_total", "Rollup rows written.", ["granularity"])
RUNS_SKIPPED = Counter(
    "aggregation_runs_skipped_total", "Runs that found their stream locked by another run.", ["granularity"]
)
WATERMARK_LAG = Gauge(
    "watermark_lag_seconds",
    "Now minus the event-time watermark of a stream: how old the newest final bucket end is.",
    ["project", "granularity"],
)
AGGREGATION_BEHIND = Gauge(
    "aggregation_behind_seconds",
    "How far a stream's event-time watermark is behind the newest bucket it may finalise"
    " (now minus the allowed lateness, floored to a bucket): 0 when caught up.",
    ["project", "granularity"],
)
