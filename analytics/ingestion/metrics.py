"""Prometheus metrics of the ingestion API (intake, validation, rate limits, live notifications)."""

from prometheus_client import Counter, Histogram

EVENTS_ACCEPTED = Counter("ingest_events_accepted_total", "Events accepted by the ingestion API.", ["endpoint"])
EVENTS_REJECTED = Counter(
    "ingest_events_rejected_total",
    "Events (or whole requests) refused by the ingestion API, by reason.",
    ["reason"],
)
REQUESTS_REJECTED = Counter(
    "ingest_requests_rejected_total", "Ingestion requests refused as a whole, by reason.", ["reason"]
)
REQUEST_SECONDS = Histogram(
    "ingest_request_duration_seconds",
    "Time to handle one ingestion request (parse, validate, enrich, hand over).",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LIVE_NOTIFY_ERRORS = Counter("ingest_live_notify_errors_total", "Live update notifications that failed.")
RATE_LIMIT_ERRORS = Counter(
    "ingest_rate_limit_backend_errors_total", "Rate limiter backend failures (requests are let through)."
)
NETWORK_ACTIONS_DECODED = Counter(
    "ingest_network_actions_decoded_total",
    "Provider messages of the network-actions stream by decoding path: columnar (a whole batch"
    " at once) or per_message (the shapes and refusals the columnar path leaves to it).",
    ["path"],
)
