"""The batch intent log: which offset range each partition was being written with.

Why: the de-duplication token of a batch is ``topic:partition:first-last``. A consumer that
dies after the insert and before the commit leaves the batch stored but not committed;
the next owner of the partition reads the same messages again, and only if it cuts the
*same* batch does ClickHouse recognise the token and drop the repeat. Batches are cut by
count, bytes and time, so the next owner would usually cut differently. Before writing,
the consumer therefore records ``(group, topic, partition, first, last)`` here; a new
owner whose first message is ``first`` cuts its first batch at exactly ``last``.

The log is a small ClickHouse table next to the events (the same store, so it is as
durable as they are), created on first use. It holds no tenant data.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa

from analytics.warehouse.store import EventStore

TABLE = "stream_batch_intents"
_SCHEMA = pa.schema(
    [
        ("consumer_group", pa.string()),
        ("topic", pa.string()),
        ("partition", pa.uint32()),
        ("first_offset", pa.uint64()),
        ("last_offset", pa.uint64()),
        ("written_at", pa.timestamp("ms", tz="UTC")),
    ]
)
_CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    consumer_group String,
    topic String,
    partition UInt32,
    first_offset UInt64,
    last_offset UInt64,
    written_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree(written_at)
ORDER BY (consumer_group, topic, partition)
TTL toDateTime(written_at) + INTERVAL 30 DAY
"""
_LOOKUP = f"""
SELECT partition, argMax(first_offset, written_at) AS first_offset, argMax(last_offset, written_at) AS last_offset
FROM {TABLE}
WHERE consumer_group = {{consumer_group:String}} AND topic = {{topic:String}}
GROUP BY partition
"""


@dataclass(frozen=True)
class Intent:
    partition: int
    first_offset: int
    last_offset: int


class IntentLog:
    """Reads and writes the intents of one consumer group."""

    def __init__(self, store: EventStore, group: str) -> None:
        self.store = store
        self.group = group
        self._ready = False

    def _ensure_table(self) -> None:
        if not self._ready:
            self.store.command(_CREATE, retry_transient=True)
            self._ready = True

    def record(self, ranges: Iterable[tuple[str, int, int, int]]) -> None:
        """Record (topic, partition, first, last) of the batches about to be written."""
        rows = list(ranges)
        if not rows:
            return
        self._ensure_table()
        now = int(time.time() * 1000)
        table = pa.table(
            {
                "consumer_group": [self.group] * len(rows),
                "topic": [row[0] for row in rows],
                "partition": [row[1] for row in rows],
                "first_offset": [row[2] for row in rows],
                "last_offset": [row[3] for row in rows],
                "written_at": [now] * len(rows),
            },
            schema=_SCHEMA,
        )
        self.store.insert_arrow(TABLE, table)

    def lookup(self, topic: str) -> dict[int, Intent]:
        """The latest intent per partition of ``topic`` for this group."""
        self._ensure_table()
        result = self.store.query_unscoped_admin(
            "stream_batch_intents", _LOOKUP, {"consumer_group": self.group, "topic": topic}
        )
        return {
            int(partition): Intent(int(partition), int(first), int(last)) for partition, first, last in result.rows()
        }
