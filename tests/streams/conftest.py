"""Fixtures of the Kafka pipeline tests: per-test topics, event rows, consumer processes.

Each test gets its own topic, dead-letter topic and consumer group (so the session's
broker can be shared and de-duplication tokens never collide across tests). Tests that
kill or stop a consumer run it as a real ``manage.py consume_events`` process with its
own chDB directory; the test reads that directory through ``tests.streams.probe``
once the consumer has exited (chDB admits one process per directory).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from analytics.devtools.devbroker import Broker, start_broker
from analytics.streams.bus import reset_event_bus
from analytics.streams.kafka.config import ensure_topics
from analytics.streams.kafka.producer import KafkaBus
from tests.factories import member_with_project

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Topics:
    bootstrap: str
    topic: str
    dead_letter_topic: str
    group: str

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_EVENTS_TOPIC": self.topic,
            "KAFKA_DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "KAFKA_CONSUMER_GROUP": self.group,
        }


def _topics(settings: Any, broker: Broker, partitions: int = 3) -> Topics:
    suffix = uuid.uuid4().hex[:10]
    topics = Topics(broker.bootstrap_servers, f"events-{suffix}", f"events-dlq-{suffix}", f"group-{suffix}")
    settings.KAFKA_BOOTSTRAP_SERVERS = topics.bootstrap
    settings.KAFKA_EVENTS_TOPIC = topics.topic
    settings.KAFKA_DEAD_LETTER_TOPIC = topics.dead_letter_topic
    settings.KAFKA_CONSUMER_GROUP = topics.group
    settings.KAFKA_PARTITIONS = partitions
    settings.KAFKA_PRODUCE_TIMEOUT = 3
    ensure_topics([topics.topic, topics.dead_letter_topic], partitions=partitions)
    return topics


@pytest.fixture
def topics(settings: Any, kafka_broker: Broker) -> Topics:
    """Fresh topics on the session's broker, wired into the settings."""
    return _topics(settings, kafka_broker)


@pytest.fixture
def own_broker() -> Iterator[Broker]:
    """A broker of this test alone, for tests that stop or kill it."""
    broker = start_broker()
    yield broker
    broker.stop()


@pytest.fixture
def own_topics(settings: Any, own_broker: Broker) -> Topics:
    return _topics(settings, own_broker)


def event_rows(project_id: int, count: int, *, users: int = 50, start: int = 0) -> list[dict[str, Any]]:
    """Enriched event rows as the API hands them to the bus."""
    now = int(time.time() * 1000)
    return [
        {
            "project_id": project_id,
            "event_id": str(uuid.uuid4()),
            "event": "page_view",
            "distinct_id": f"user-{(start + index) % users}",
            "person_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{project_id}:{(start + index) % users}")),
            "timestamp": now - index,
            "received_at": now,
            "properties": orjson.dumps({"n": start + index}).decode(),
        }
        for index in range(count)
    ]


def produce_rows(rows: list[dict[str, Any]]) -> None:
    """Publish through the real bus (acks=all), in requests of 500 rows."""
    bus = KafkaBus.from_settings()
    try:
        for start in range(0, len(rows), 500):
            bus.produce_sync(rows[start : start + 500], timeout=30)
    finally:
        bus.close()


class ConsumerProcess:
    """``manage.py consume_events`` as a child process, its output in a log file."""

    def __init__(
        self,
        topics: Topics,
        chdb_dir: Path,
        log_path: Path,
        *,
        failpoints: str = "",
        extra_args: list[str] | None = None,
    ) -> None:
        self.log_path = log_path
        env = {
            **os.environ,
            **topics.env(),
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "CLICKHOUSE_URL": f"chdb://{chdb_dir}",
            "ANALYTICS_FAILPOINTS": failpoints,
            "KAFKA_PRODUCE_TIMEOUT": "5",
        }
        # The consumer writes the log through its own descriptor: ours closes once it has started.
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "consume_events",
                    "--session-timeout-ms",
                    "6000",
                    "--max-wait",
                    "0.3",
                    *(extra_args or []),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process.poll() is not None:
                raise AssertionError(
                    f"consumer exited ({self.process.returncode}) before {text!r}:\n{self.output()[-3000:]}"
                )
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not seen within {timeout}s:\n{self.output()[-3000:]}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)


def probe(chdb_dir: Path, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run ``tests.streams.probe`` against ``chdb_dir``; returns its JSON answer, if any."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings", "CLICKHOUSE_URL": f"chdb://{chdb_dir}"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.streams.probe", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    lines = [line for line in result.stdout.decode().splitlines() if line.startswith("{")]
    return orjson.loads(lines[-1]) if lines else {}


@pytest.fixture
def consumers(tmp_path: Path) -> Iterator[list[ConsumerProcess]]:
    """Consumer processes started by a test; any still running at the end is killed."""
    started: list[ConsumerProcess] = []
    yield started
    for consumer in started:
        consumer.stop()


@pytest.fixture
def chdb_dir(tmp_path: Path) -> Path:
    """A migrated chDB directory for consumer processes."""
    path = tmp_path / "chdb"
    probe(path, "migrate")
    return path


@pytest.fixture
def kafka_api(settings: Any) -> Iterator[None]:
    """The API in scale mode: events go to Kafka (the topics fixture sets where)."""
    settings.EVENT_BUS = "kafka"
    reset_event_bus()
    yield
    reset_event_bus()


@pytest.fixture
def write_project(db: None) -> Any:
    return member_with_project()[1]


def post_events(client: Any, key: str, events: list[dict[str, Any]]) -> Any:
    return client.post(
        "/api/v1/events",
        data=orjson.dumps({"batch": events}),
        content_type="application/json",
        headers={"X-Api-Key": key},
    )


def api_events(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "event": "page_view",
            "distinct_id": f"visitor-{(start + i) % 20}",
            "event_id": str(uuid.uuid4()),
            "properties": {"n": start + i},
        }
        for i in range(count)
    ]
