"""Prometheus metrics of the Kafka producer (the web side of the bus)."""

from prometheus_client import Counter, Gauge, Histogram

PRODUCED_EVENTS = Counter(
    "kafka_produced_events_total", "Events handed to Kafka, by delivery result.", ["topic", "result"]
)
PUBLISH_SECONDS = Histogram(
    "kafka_publish_duration_seconds",
    "Time from producing a request's events to the broker acknowledging all of them.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PUBLISH_FAILURES = Counter(
    "kafka_publish_failures_total", "Publish calls answered with BusUnavailable, by reason.", ["reason"]
)
PRODUCER_QUEUE = Gauge("kafka_producer_queue_messages", "Messages waiting in the producer's local queue.")
