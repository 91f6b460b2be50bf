"""Broker down: the API answers 503 with Retry-After, never a 2xx for an unproduced event."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition

from analytics.devtools.devbroker import Broker
from analytics.streams.drain import partition_ids
from analytics.streams.kafka.config import consumer_config
from tests.streams.conftest import Topics, api_events, post_events

pytestmark = [pytest.mark.kafka]


def _topic_messages(topics: Topics) -> int:
    consumer = Consumer(consumer_config("count-reader"))
    try:
        total = 0
        for partition in partition_ids(topics.topic):
            _, high = consumer.get_watermark_offsets(TopicPartition(topics.topic, partition), timeout=5)
            total += max(high, 0)
        return total
    finally:
        consumer.close()


def test_api_answers_503_with_retry_after_while_the_broker_is_down(
    own_topics: Topics, own_broker: Broker, kafka_api: None, write_project: object, client: object
) -> None:
    key = write_project.write_key  # type: ignore[attr-defined]
    response = post_events(client, key, api_events(1))
    assert response.status_code == 202, response.content
    assert _topic_messages(own_topics) == 1

    own_broker.kill()
    response = post_events(client, key, api_events(5))

    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "unavailable"
