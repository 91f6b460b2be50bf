"""The network-actions stream: the providers' topic -> the store, dead letters with reasons,
and dedup of (source_id, event_id) across Kafka and HTTP."""

from __future__ import annotations

import signal
import uuid
from datetime import UTC, datetime

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition
from django.core.management import CommandError, call_command

from analytics.ingestion.network_stream import STREAM_NAME
from analytics.streams.dead_letters import DETAIL_HEADER, OFFSET_HEADER, STREAM_HEADER, header_map
from analytics.streams.drain import partition_ids
from analytics.streams.kafka.config import consumer_config
from analytics.streams.kafka.wire import REASON_HEADER
from analytics.telecom.selectors import Range, global_aggregates
from tests.telecom.conftest import EXAMPLE, drain, example, publish, stored_actions
from tests.telecom.data import actions, expected_aggregates, resent, unique

pytestmark = [pytest.mark.kafka]


def dead_letters(topic: str) -> list[dict[str, str]]:
    reader = Consumer(consumer_config("telecom-test-reader"))
    reader.assign([TopicPartition(topic, partition, 0) for partition in partition_ids(topic)])
    letters = []
    try:
        while batch := reader.consume(100, 2.0):
            letters.extend(header_map(message.headers()) for message in batch if message.error() is None)
    finally:
        reader.close()
    return letters


def test_the_example_message_from_the_topic_is_stored(telecom_topics, old_project, store):
    publish(telecom_topics["topic"], [EXAMPLE])
    drain(telecom_topics)

    [row] = stored_actions(store, old_project.id)
    assert (row["event_id"], row["source_id"], row["event"], row["distinct_id"]) == (
        EXAMPLE["event_id"],
        "provider-1",
        "CALL_OUT",
        "123456789",
    )
    assert orjson.loads(row["properties"])["meta"] == {"cell": "A1"}


def test_invalid_messages_are_dead_lettered_with_their_reason_and_the_rest_flows(telecom_topics, old_project, store):
    good = [example(event_id=str(uuid.UUID(int=n, version=4)), user_id="u1") for n in range(1, 5)]
    bad = [
        example(user_id="u1", type="FAX"),
        example(user_id="u1", type="SMS_SENT", duration_sec=9),
        example(user_id="u1", type="DATA", bytes_up=None),
        example(user_id="u1", meta={"big": "x" * 5000}),
        example(user_id="u1", duration_sec=9999),
        b'{"not json',
    ]
    publish(telecom_topics["topic"], [good[0], *bad[:3], good[1], *bad[3:], *good[2:]])
    drain(telecom_topics)

    assert sorted(row["event_id"] for row in stored_actions(store, old_project.id)) == [g["event_id"] for g in good]
    letters = dead_letters(telecom_topics["dead"])
    assert sorted(letter[REASON_HEADER] for letter in letters) == sorted(
        ["invalid_type", "sms_with_duration", "missing_bytes", "meta_too_large", "inconsistent_duration", "undecodable"]
    )
    assert {letter[STREAM_HEADER] for letter in letters} == {STREAM_NAME}
    by_reason = {letter[REASON_HEADER]: letter for letter in letters}
    assert "DATA must carry bytes_up and bytes_down" in by_reason["missing_bytes"][DETAIL_HEADER]
    assert all(OFFSET_HEADER in letter for letter in letters)


def test_the_same_pair_over_http_and_kafka_is_counted_once(telecom_topics, old_project, store, post):
    assert post(EXAMPLE, key=old_project.write_key, path="/api/v1/network-actions").status_code == 202
    later = example(started_at="2025-10-20T13:34:56Z", ended_at="2025-10-20T13:40:00Z")  # another hour
    other_provider = example(source_id="provider-2")
    publish(telecom_topics["topic"], [later, later, other_provider])
    drain(telecom_topics)

    rows = stored_actions(store, old_project.id)
    assert sorted((row["source_id"], row["ts_ms"]) for row in rows) == [
        ("provider-1", 1760963696000),  # the HTTP copy came first
        ("provider-2", 1760963696000),
    ]


def test_a_load_over_kafka_with_resends_matches_python(telecom_topics, old_project, store):
    messages = actions(400, users=20, seed=11)
    publish(telecom_topics["topic"], messages)
    drain(telecom_topics)
    publish(telecom_topics["topic"], resent(messages, every=3))
    drain(telecom_topics)

    assert len(stored_actions(store, old_project.id)) == len(unique(messages))
    start, end = datetime(2025, 9, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)
    answer = global_aggregates(project=old_project, period_name="month", period=Range(start, end))
    assert answer["totals"] == expected_aggregates(messages, "month", start, end)


def test_the_stream_refuses_to_start_unbound_and_names_the_setting(telecom_topics, settings):
    settings.TELECOM_PROJECT_ID = 0
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(CommandError, match="TELECOM_PROJECT_ID"):
            call_command("consume_events", "--stream", STREAM_NAME)
    finally:
        for signum, handler in handlers.items():  # the command installs its own
            signal.signal(signum, handler)
