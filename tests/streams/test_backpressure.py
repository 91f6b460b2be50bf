"""Backpressure: a slow store pauses the partitions; resuming loses and doubles nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from analytics.streams.drain import send_drain_markers, wait_until_drained
from tests.streams.conftest import ConsumerProcess, Topics, event_rows, probe, produce_rows

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_paused_and_resumed_partitions_lose_and_double_nothing(
    topics: Topics, chdb_dir: Path, consumers: list[ConsumerProcess], tmp_path: Path
) -> None:
    produce_rows(event_rows(9501, 20000, users=300))
    targets = send_drain_markers(topics.topic)
    # Small groups and a slow write: the buffers hit the backlog limit again and again.
    consumer = ConsumerProcess(
        topics,
        chdb_dir,
        tmp_path / "consumer.log",
        failpoints="sleep_before_insert=0.2",
        extra_args=["--max-messages", "500"],
    )
    consumers.append(consumer)
    consumer.wait_for_output(": consuming ", timeout=120)
    assert wait_until_drained(topics.group, topics.topic, targets, timeout=240), consumer.output()[-3000:]
    consumer.signal(signal.SIGTERM)
    assert consumer.wait(timeout=60) == 0

    assert probe(chdb_dir, "count", "--project", "9501") == {"final": 20000, "unique": 20000, "raw": 20000}
