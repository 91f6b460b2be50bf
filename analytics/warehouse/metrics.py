"""Prometheus metrics of the event store."""

from prometheus_client import Counter, Gauge, Histogram

STORE_QUERY_SECONDS = Histogram(
    "store_query_duration_seconds",
    "Time spent in ClickHouse queries, by query name and transport.",
    ["query", "transport"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STORE_ROWS_INSERTED = Counter("store_rows_inserted_total", "Event rows inserted into the store.", ["transport"])
STORE_BYTES_INSERTED = Counter(
    "store_bytes_inserted_total", "Arrow bytes of the event rows inserted into the store.", ["transport"]
)
STORE_INSERT_SECONDS = Histogram(
    "store_insert_duration_seconds",
    "Time to insert one batch into the store.",
    ["transport"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
STORE_ERRORS = Counter("store_errors_total", "Store errors by kind.", ["kind", "operation"])
STORE_RETRIES = Counter("store_retries_total", "Retried store operations.", ["operation"])
STORE_RETENTION_ROWS = Counter(
    "store_retention_deleted_rows_total", "Event rows deleted because their project's retention shrank."
)
STORE_PARTITIONS_OPTIMIZED = Counter(
    "store_partitions_optimized_total", "Closed event partitions merged into one part (OPTIMIZE FINAL)."
)
DUPLICATES_DROPPED = Counter(
    "store_duplicate_events_dropped_total",
    "Events not inserted because the same (project, source, event id) is stored or earlier in the batch.",
    ["table"],
)
STORED_EVENTS_LOOKUPS = Counter(
    "store_duplicate_checks_total",
    "Events the stored-events filter flagged and the store looked up exactly (copies and false positives).",
    ["table"],
)
STORED_EVENTS_FILTER_KEYS = Gauge(
    "store_stored_events_filter_keys", "Event keys held by this process's stored-events filter.", ["table"]
)
