"""Prometheus metrics of the stream pipeline: the consumers (``manage.py consume_events``),
the embedded batch writer and the person updates of the sink.

Every consumer metric carries the stream's name, so several streams in one process stay apart.
"""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PROCESSED = Counter(
    "events_processed_total",
    "Events whose batch was written and committed: rows stored plus dead letters.",
    ["stream"],
)
BATCH_LATENCY = Histogram(
    "batch_latency_seconds",
    "Time to write one batch group: decode, store insert, dead letters (retries included).",
    ["stream"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RETRIES = Counter("retries_total", "Batch writes retried after a transient failure, by cause.", ["stream", "cause"])
DEAD_LETTERS = Counter("dead_letters_total", "Messages sent to the dead-letter topic, by reason.", ["stream", "reason"])
CONSUMER_LAG = Gauge(
    "consumer_lag", "Messages in the partition after the last committed offset.", ["stream", "partition"]
)
ROWS_INSERTED = Counter("stream_rows_inserted_total", "Rows written to the store by the stream.", ["stream"])
BYTES_INSERTED = Counter(
    "stream_bytes_inserted_total", "Arrow bytes of the rows written to the store by the stream.", ["stream"]
)
COMMITS = Counter("stream_commits_total", "Offset commits, by result.", ["stream", "result"])
PAUSED = Gauge("stream_paused", "1 while the stream's partitions are paused (store down or backlog).", ["stream"])
REBALANCES = Counter("stream_rebalances_total", "Partition assignments and revocations.", ["stream", "kind"])
OFFSET_GAPS = Counter(
    "stream_offset_gaps_total",
    "Offsets a fetch skipped within a partition: refetched (seek back), or accepted as a real gap after "
    "re-reads kept skipping them.",
    ["stream", "result"],
)
BATCH_FLUSH_SECONDS = Histogram(
    "ingest_batch_writer_flush_duration_seconds",
    "Time the embedded batch writer needs to write one coalesced batch.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_FLUSH_ROWS = Histogram(
    "ingest_batch_writer_flush_rows",
    "Events per coalesced batch written by the embedded batch writer.",
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000, 50000),
)
BATCH_FLUSH_ERRORS = Counter("ingest_batch_writer_errors_total", "Failed flushes of the embedded batch writer.")
PERSON_UPDATES = Counter(
    "ingest_person_updates_total", "Person rows and distinct-id mappings written, by kind.", ["kind"]
)
