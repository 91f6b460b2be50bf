"""Post-mortem of a run that lost events: are the missing events in the topic, and where?

Reads a whole topic from offset 0 with a consumer that joins no group (``assign``), so it
sees exactly what the broker holds, and reports for each missing event id the partition and
offset of every copy found, plus per-partition message counts and offset gaps.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from analytics.streams.drain import partition_ids
from analytics.streams.kafka.config import consumer_config

_EVENT_ID = re.compile(rb'"event_id":"([0-9a-fA-F-]{36})"')


def scan_topic_for_ids(topic: str, wanted: set[str], *, idle_timeout: float = 10.0) -> dict[str, Any]:
    """Read ``topic`` from the beginning; report where the ``wanted`` event ids are."""
    partitions = partition_ids(topic)
    consumer = Consumer(consumer_config(f"postmortem-{uuid.uuid4()}", **{"enable.partition.eof": True}))
    found: list[dict[str, Any]] = []
    per_partition: dict[int, dict[str, int]] = {}
    try:
        highs = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        last: dict[int, int] = {}
        # An error not tied to a partition has no partition (None); it is counted all the same.
        done: set[int | None] = set()
        idle_since = time.monotonic()
        while len(done) < len(partitions) and time.monotonic() - idle_since < idle_timeout:
            for message in consumer.consume(10_000, timeout=1.0):
                idle_since = time.monotonic()
                if message.error() is not None:
                    done.add(message.partition())
                    continue
                partition, offset = message.partition(), message.offset()
                # A fetched message (no error) always has both.
                assert partition is not None
                assert offset is not None
                stats = per_partition.setdefault(partition, {"messages": 0, "events": 0, "gaps": 0, "out_of_order": 0})
                stats["messages"] += 1
                previous = last.get(partition)
                if previous is not None and offset != previous + 1:
                    stats["gaps" if offset > previous else "out_of_order"] += 1
                last[partition] = offset
                # A message may carry several events (one line each).
                for line, text in enumerate((message.value() or b"").split(b"\n")):
                    match = _EVENT_ID.search(text)
                    if match is None:
                        continue
                    stats["events"] += 1
                    event_id = match.group(1).decode()
                    if event_id in wanted:
                        found.append({"event_id": event_id, "partition": partition, "offset": offset, "line": line})
    finally:
        consumer.close()
    seen = {item["event_id"] for item in found}
    return {
        "wanted": len(wanted),
        "in_topic": len(seen),
        "not_in_topic": sorted(wanted - seen)[:20],
        "high_watermarks": {str(p): high for p, high in highs.items()},
        "partitions": {str(p): stats for p, stats in sorted(per_partition.items())},
        "found": sorted(found, key=lambda item: (item["partition"], item["offset"])),
    }
