"""Fault tests of the Kafka pipeline with real processes: nothing lost, nothing doubled.

Each consumer is a real ``manage.py consume_events`` process with its own chDB
directory. Completion is known exactly from drain markers (one control message per
partition, see analytics/streams/drain.py), never from sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics.streams.drain import committed_offsets, send_drain_markers, wait_until_drained
from tests.streams.conftest import (
    ROOT,
    ConsumerProcess,
    Topics,
    api_events,
    event_rows,
    post_events,
    probe,
    produce_rows,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _drain_and_stop(consumer: ConsumerProcess, topics: Topics, targets: dict[int, int]) -> None:
    consumer.wait_for_output(": consuming ", timeout=120)
    assert wait_until_drained(topics.group, topics.topic, targets, timeout=150), consumer.output()[-3000:]
    consumer.signal(signal.SIGTERM)
    assert consumer.wait(timeout=60) == 0, consumer.output()[-3000:]


def test_sigkill_after_insert_before_commit_loses_nothing_and_doubles_nothing(
    topics: Topics, chdb_dir: Path, consumers: list[ConsumerProcess], tmp_path: Path
) -> None:
    produce_rows(event_rows(9101, 3000))
    targets = send_drain_markers(topics.topic)

    doomed = ConsumerProcess(topics, chdb_dir, tmp_path / "first.log", failpoints="kill_after_insert")
    consumers.append(doomed)
    assert doomed.wait(timeout=120) == -signal.SIGKILL, doomed.output()[-3000:]
    assert committed_offsets(topics.group, topics.topic, list(targets)) == {}

    successor = ConsumerProcess(topics, chdb_dir, tmp_path / "second.log")
    consumers.append(successor)
    _drain_and_stop(successor, topics, targets)

    # raw (without FINAL) proves the repeated batch was dropped by its token, not merged away later.
    assert probe(chdb_dir, "count", "--project", "9101") == {"final": 3000, "unique": 3000, "raw": 3000}


def test_sigterm_during_a_batch_exits_cleanly_and_the_next_consumer_continues(
    topics: Topics, chdb_dir: Path, consumers: list[ConsumerProcess], tmp_path: Path
) -> None:
    produce_rows(event_rows(9102, 3000))
    targets = send_drain_markers(topics.topic)

    first = ConsumerProcess(topics, chdb_dir, tmp_path / "first.log", failpoints="sleep_before_insert=3")
    consumers.append(first)
    first.wait_for_output("failpoint.sleep", timeout=120)
    first.signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0, first.output()[-3000:]
    # The batch in flight was finished and committed before the exit.
    assert committed_offsets(topics.group, topics.topic, list(targets))

    second = ConsumerProcess(topics, chdb_dir, tmp_path / "second.log")
    consumers.append(second)
    _drain_and_stop(second, topics, targets)

    assert probe(chdb_dir, "count", "--project", "9102") == {"final": 3000, "unique": 3000, "raw": 3000}


def test_store_unavailable_commits_nothing_and_the_consumer_catches_up(
    topics: Topics,
    chdb_dir: Path,
    consumers: list[ConsumerProcess],
    tmp_path: Path,
    kafka_api: None,
    write_project: object,
    client: object,
) -> None:
    # Another process holds the chDB directory: for the consumer the store is down.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "CLICKHOUSE_URL": f"chdb://{chdb_dir}"}
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.streams.probe", "hold"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == b"holding"
        consumer = ConsumerProcess(topics, chdb_dir, tmp_path / "consumer.log")
        consumers.append(consumer)

        # The API keeps accepting: Kafka holds the events.
        key = write_project.write_key  # type: ignore[attr-defined]
        accepted = 0
        for start in range(0, 1000, 100):
            response = post_events(client, key, api_events(100, start=start))
            assert response.status_code == 202, response.content
            accepted += response.json()["accepted"]
        assert accepted == 1000
        targets = send_drain_markers(topics.topic)

        consumer.wait_for_output("stream.resolve_failed", timeout=120)
        time.sleep(2)
        assert committed_offsets(topics.group, topics.topic, list(targets)) == {}
    finally:
        holder.kill()
        holder.wait(timeout=10)

    _drain_and_stop(consumer, topics, targets)
    project_id = str(write_project.id)  # type: ignore[attr-defined]
    assert probe(chdb_dir, "count", "--project", project_id) == {"final": 1000, "unique": 1000, "raw": 1000}
