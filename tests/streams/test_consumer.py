"""The events stream in-process: batches land once, poison goes to the dead-letter topic."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from django.conf import settings
from prometheus_client import REGISTRY

from analytics.devtools import faults as failpoints
from analytics.devtools.consumer_benchmark import run_benchmark
from analytics.devtools.postmortem import scan_topic_for_ids
from analytics.streams.consumer import StreamConsumer
from analytics.streams.dead_letters import (
    LINE_HEADER,
    OFFSET_HEADER,
    TOPIC_HEADER,
    header_map,
    replay_dead_letters,
)
from analytics.streams.drain import partition_ids, send_drain_markers, wait_until_drained
from analytics.streams.kafka.config import consumer_config, producer_config
from analytics.streams.kafka.wire import REASON_HEADER, encode_row, message_key
from analytics.streams.registry import get_stream
from analytics.warehouse.guard import Query
from tests.streams.conftest import Topics, event_rows, produce_rows

pytestmark = [pytest.mark.kafka]


@contextmanager
def running_consumer(max_wait_seconds: float = 0.2) -> Iterator[StreamConsumer]:
    stop = threading.Event()
    consumer = StreamConsumer(
        get_stream("events"), stop=stop, config={"session.timeout.ms": 6000}, max_wait_seconds=max_wait_seconds
    )
    errors: list[BaseException] = []

    def run() -> None:
        try:
            consumer.run()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield consumer
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert errors == []


def _count(store: Any, project_id: int) -> tuple[int, int]:
    row = store.query(
        Query(
            name="test.pipeline.count",
            sql="SELECT count(), uniqExact(event_id) FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id},
        )
    ).rows()[0]
    return int(row[0]), int(row[1])


def _read_all(topic: str) -> list[Any]:
    reader = Consumer(consumer_config("test-reader"))
    reader.assign([TopicPartition(topic, partition, 0) for partition in partition_ids(topic)])
    messages: list[Any] = []
    try:
        while True:
            batch = reader.consume(100, 2.0)
            if not batch:
                return messages
            messages.extend(message for message in batch if message.error() is None)
    finally:
        reader.close()


def test_batches_land_once_and_offsets_are_committed(topics: Topics, store: Any) -> None:
    produce_rows(event_rows(9301, 1200))
    targets = send_drain_markers(topics.topic)

    with running_consumer() as consumer:
        assert wait_until_drained(topics.group, topics.topic, targets, timeout=120)

    assert _count(store, 9301) == (1200, 1200)
    assert consumer.stats.rows == 1200


def _stored_within(store: Any, project_id: int, rows: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _count(store, project_id)[0] >= rows:
            return True
        time.sleep(0.1)
    return False


def test_the_end_of_a_burst_is_written_without_waiting_max_wait_and_a_trickle_waits(topics: Topics, store: Any) -> None:
    with running_consumer(max_wait_seconds=12) as consumer:
        produce_rows(event_rows(9330, 1500))
        # Stored before max_wait could have cut them: the burst's end did.
        assert _stored_within(store, 9330, 1500, seconds=8)
        produce_rows(event_rows(9331, 10))
        assert not _stored_within(store, 9331, 10, seconds=3)  # below the floor: it waits max_wait
        assert _stored_within(store, 9331, 10, seconds=60)
    assert _count(store, 9330) == (1500, 1500)
    assert consumer.stats.rows == 1510


def test_poison_message_goes_to_the_dead_letter_topic_and_later_events_flow(topics: Topics, store: Any) -> None:
    rows = event_rows(9302, 20, users=1)  # one user: one partition, in order
    key = message_key(rows[0])
    producer = Producer(producer_config())
    for row in rows[:10]:
        producer.produce(topics.topic, encode_row(row), key)
    producer.produce(topics.topic, b"{definitely not json", key)
    missing_event_id = {name: value for name, value in rows[0].items() if name != "event_id"}
    producer.produce(topics.topic, encode_row(missing_event_id), key)
    for row in rows[10:]:
        producer.produce(topics.topic, encode_row(row), key)
    assert producer.flush(10) == 0
    targets = send_drain_markers(topics.topic)

    with running_consumer():
        assert wait_until_drained(topics.group, topics.topic, targets, timeout=120)

    assert _count(store, 9302) == (20, 20)
    letters = [header_map(message.headers()) for message in _read_all(topics.dead_letter_topic)]
    assert sorted(letter[REASON_HEADER] for letter in letters) == ["invalid_row", "undecodable"]
    assert {letter[TOPIC_HEADER] for letter in letters} == {topics.topic}
    assert sorted(int(letter[OFFSET_HEADER]) for letter in letters) == [10, 11]


def test_a_bad_event_in_a_multi_event_message_is_dead_lettered_alone(topics: Topics, store: Any) -> None:
    rows = event_rows(9306, 6, users=1)
    bad_line = orjson.dumps({**rows[0], "event_id": "not-a-uuid"})
    lines = [encode_row(row) for row in rows[:3]] + [bad_line] + [encode_row(row) for row in rows[3:]]
    producer = Producer(producer_config())
    producer.produce(topics.topic, b"\n".join(lines), message_key(rows[0]))
    assert producer.flush(10) == 0
    targets = send_drain_markers(topics.topic)

    with running_consumer() as consumer:
        assert wait_until_drained(topics.group, topics.topic, targets, timeout=120)

    assert _count(store, 9306) == (6, 6)
    assert consumer.stats.rows == 6
    letters = _read_all(topics.dead_letter_topic)
    assert len(letters) == 1
    headers = header_map(letters[0].headers())
    assert (headers[REASON_HEADER], headers[LINE_HEADER], headers[OFFSET_HEADER]) == ("invalid_row", "3", "0")
    assert letters[0].value() == bad_line  # the stored events are not sent back on replay
    assert letters[0].key() == message_key(rows[0])


def test_replay_sends_dead_letters_back_once(topics: Topics) -> None:
    producer = Producer(producer_config())
    producer.produce(
        topics.dead_letter_topic,
        b"{broken",
        b"7:someone",
        headers=[(REASON_HEADER, b"undecodable"), (TOPIC_HEADER, topics.topic.encode())],
    )
    assert producer.flush(10) == 0

    first = replay_dead_letters(
        dead_letter_topic=topics.dead_letter_topic,
        target_topic=topics.topic,
        group=f"{topics.group}-replay",
        idle_timeout=3,
        config={"session.timeout.ms": 6000},
    )
    second = replay_dead_letters(
        dead_letter_topic=topics.dead_letter_topic,
        target_topic=topics.topic,
        group=f"{topics.group}-replay",
        idle_timeout=3,
        config={"session.timeout.ms": 6000},
    )

    assert first.replayed == 1
    assert first.by_reason == {"undecodable": 1}
    assert second.replayed == 0
    replayed = [message for message in _read_all(topics.topic) if message.value() == b"{broken"]
    assert len(replayed) == 1
    assert replayed[0].key() == b"7:someone"


def test_a_rebalance_commits_what_was_written_and_the_new_member_loses_and_doubles_nothing(
    topics: Topics, store: Any
) -> None:
    produce_rows(event_rows(9303, 3000, users=200))
    with running_consumer() as first:
        deadline = time.monotonic() + 120
        while not first.stats.messages and time.monotonic() < deadline:
            time.sleep(0.2)
        assert first.stats.messages > 0
        with running_consumer() as second:
            produce_rows(event_rows(9303, 3000, users=200, start=3000))
            targets = send_drain_markers(topics.topic)
            assert wait_until_drained(topics.group, topics.topic, targets, timeout=180)
        assert second.stats.messages > 0  # the second member did get partitions

    row = store.query(
        Query(
            name="test.pipeline.raw",
            sql="SELECT count(), uniqExact(event_id) FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": 9303},
        )
    ).rows()[0]
    assert _count(store, 9303) == (6000, 6000)
    assert tuple(row) == (6000, 6000)  # no batch stored twice, even physically


def test_a_fetch_that_skips_offsets_is_read_again_and_nothing_is_lost(topics: Topics, store: Any) -> None:
    """Issue 5's lost events: Tansu can answer a fetch at the log end past a record batch
    another producer is still writing, so the client never returns those messages; a
    commit after them would lose them for good. The consumer must see the hole in the
    offsets and read the partition again from the first missing one."""

    def refetched() -> float:
        labels = {"stream": "events", "result": "refetched"}
        return REGISTRY.get_sample_value("stream_offset_gaps_total", labels) or 0.0

    produce_rows(event_rows(9311, 1500))
    targets = send_drain_markers(topics.topic)
    before = refetched()
    failpoints.enable("skip_fetched_offsets", "35")
    try:
        with running_consumer():
            assert wait_until_drained(topics.group, topics.topic, targets, timeout=120)
        fired = not failpoints.is_active("skip_fetched_offsets")
    finally:
        failpoints.disable("skip_fetched_offsets")

    assert fired
    assert _count(store, 9311) == (1500, 1500)
    assert refetched() == before + 1


def test_the_post_mortem_finds_event_ids_in_the_topic(topics: Topics) -> None:
    rows = event_rows(9312, 300)
    for index, row in enumerate(rows):  # 50 users, each with 6 events in a row
        row["distinct_id"] = f"user-{index // 6}"
    produce_rows(rows)
    wanted = {rows[0]["event_id"], rows[299]["event_id"], str(uuid.uuid4())}

    report = scan_topic_for_ids(topics.topic, wanted, idle_timeout=5.0)

    assert report["in_topic"] == 2
    assert report["not_in_topic"] == sorted(wanted - {rows[0]["event_id"], rows[299]["event_id"]})
    assert sum(stats["events"] for stats in report["partitions"].values()) == 300
    # One message per run of one user's rows: 300 rows of 50 users, 6 in a row each.
    assert sum(stats["messages"] for stats in report["partitions"].values()) == 50
    assert all(stats["gaps"] == 0 for stats in report["partitions"].values())
    assert {item["event_id"] for item in report["found"]} == {rows[0]["event_id"], rows[299]["event_id"]}


def test_a_new_groups_first_fetch_that_skips_the_log_start_is_read_again(topics: Topics, store: Any) -> None:
    """The same skip at the very start of a partition the group never committed: the
    consumer starts from the earliest offset, so messages before the first one fetched
    are a hole too (the loss seen when a consumer starts as the producers' first batches
    are written)."""
    produce_rows(event_rows(9332, 900))
    targets = send_drain_markers(topics.topic)
    failpoints.enable("skip_first_fetched", "30")
    try:
        with running_consumer():
            assert wait_until_drained(topics.group, topics.topic, targets, timeout=120)
        fired = not failpoints.is_active("skip_first_fetched")
    finally:
        failpoints.disable("skip_first_fetched")

    assert fired
    assert _count(store, 9332) == (900, 900)


def test_replay_reads_a_skipped_fetch_again_and_replays_every_dead_letter(topics: Topics) -> None:
    """The replay commits what it sent back, so a fetch that skips offsets (Tansu at the log
    end) must be read again, or the skipped dead letters would never be replayed."""

    def refetched() -> float:
        labels = {"stream": "dead-letter-replay", "result": "refetched"}
        return REGISTRY.get_sample_value("stream_offset_gaps_total", labels) or 0.0

    producer = Producer(producer_config())
    values = [f"{{broken {index}".encode() for index in range(200)]
    for value in values:
        producer.produce(
            topics.dead_letter_topic,
            value,
            b"7:someone",
            headers=[(REASON_HEADER, b"undecodable"), (TOPIC_HEADER, topics.topic.encode())],
        )
    assert producer.flush(10) == 0
    before = refetched()
    failpoints.enable("skip_fetched_offsets", "25")
    try:
        result = replay_dead_letters(
            dead_letter_topic=topics.dead_letter_topic,
            target_topic=topics.topic,
            group=f"{topics.group}-replay",
            idle_timeout=3,
            config={"session.timeout.ms": 6000},
        )
        fired = not failpoints.is_active("skip_fetched_offsets")
    finally:
        failpoints.disable("skip_fetched_offsets")

    assert fired
    replayed = sorted(message.value() for message in _read_all(topics.topic))
    assert replayed == sorted(values)
    assert result.replayed == 200
    assert refetched() == before + 1


def test_consume_events_refuses_an_unmigrated_store_and_names_the_fix(tmp_path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ANALYTICS_PROFILE": "dev",
        "DATA_DIR": str(tmp_path),
        "CLICKHOUSE_URL": f"chdb://{tmp_path / 'chdb'}",
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    }
    result = subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), "consume_events"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "pending ClickHouse migrations" in result.stderr
    assert "clickhouse_migrate" in result.stderr


def test_the_consumer_benchmark_stores_every_row_of_its_multi_event_messages(topics: Topics, store: Any) -> None:
    result = run_benchmark(3000, project_id=9307)

    assert result["drained"] is True
    assert result["stored_unique"] == 3000
    assert result["messages"] < 3000 / 5  # sessions of 7 events: several events per message
    assert result["consumer_events_per_second"] > 0
    assert result["raw_arrow_insert_events_per_second"] > 0


def test_a_resend_through_kafka_with_other_timestamps_is_stored_once(topics: Topics, store: Any) -> None:
    """A client resends a batch hours later: the copies travel the same partitions, carry
    new timestamps (across hours), and the consumer stores none of them."""
    rows = event_rows(9321, 600)
    produce_rows(rows)
    targets = send_drain_markers(topics.topic)
    with running_consumer():
        assert wait_until_drained(topics.group, topics.topic, targets, timeout=120)
    assert _count(store, 9321) == (600, 600)
    resent = [
        dict(row, timestamp=int(row["timestamp"]) - 3 * 3_600_000, received_at=int(row["received_at"]) + 5)
        for row in rows[:200]
    ]
    produce_rows([*resent, *event_rows(9321, 10, start=600)])
    targets = send_drain_markers(topics.topic)
    with running_consumer() as consumer:
        assert wait_until_drained(topics.group, topics.topic, targets, timeout=120)
    assert _count(store, 9321) == (610, 610)
    assert consumer.stats.rows == 10
