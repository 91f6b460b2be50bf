"""Prometheus metrics of the stream consumers (``manage.py consume_events``).

Every metric carries the stream's name, so several streams in one process stay apart.
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
