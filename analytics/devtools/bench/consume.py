"""Run ``manage.py consume_events`` over a pre-filled topic and time it from the outside."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from django.core.management import get_commands

from analytics.devtools.bench.helpers import manage_py, run_python, stop_process
from analytics.devtools.bench.kafka_raw import CommittedOffsets, create_topic, event_count, produce_raw
from analytics.devtools.bench.registry import Unavailable
from analytics.devtools.procstat import peak_rss_mb

PARTITIONS = 6
GROUP = "bench-consumer"
NO_PROGRESS_SECONDS = 90

COUNT_CODE = """
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store
print(get_store().query(Query(name="bench.count", sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}",
                              params={"project_id": %d})).scalar())
"""


@dataclass
class ConsumeRun:
    events: int
    produce_seconds: float
    seconds: float  # first committed progress -> everything committed
    wall_seconds: float  # process start -> everything committed (includes the group join)
    stored: int
    peak_rss_mb: float | None
    exit_code: int | None


def consumer_available() -> None:
    if "consume_events" not in get_commands():
        raise Unavailable("`manage.py consume_events` (issue 5) has not landed")


def fill_and_consume(
    env: dict[str, str],
    workdir: Path,
    bootstrap: str,
    topic: str,
    messages: list[tuple[bytes, bytes, int]],
    project_id: int,
    timeout: float = 600,
    stream: str = "events",
) -> ConsumeRun:
    """Produce ``messages`` to a new topic, then let one consumer process drain it into its store.

    ``stream="network-actions"`` runs the telecom providers' stream instead, bound to ``project_id``.
    """
    create_topic(bootstrap, topic, PARTITIONS)
    produce_seconds = produce_raw(bootstrap, topic, messages)
    total = len(messages)  # committed offsets count messages; a message may carry several events
    env = {**env, "KAFKA_EVENTS_TOPIC": topic, "KAFKA_CONSUMER_GROUP": GROUP, "KAFKA_PARTITIONS": str(PARTITIONS)}
    if stream == "network-actions":
        env.update(TELECOM_KAFKA_TOPIC=topic, TELECOM_CONSUMER_GROUP=GROUP, TELECOM_PROJECT_ID=str(project_id))
    offsets = CommittedOffsets(bootstrap, GROUP, topic, PARTITIONS)
    process = manage_py("consume_events", "--stream", stream, env=env, log_path=workdir / f"consumer-{stream}.log")
    started = time.monotonic()
    first_seen: tuple[float, int] | None = None
    done_at = None
    peak = None
    try:
        deadline = started + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (workdir / f"consumer-{stream}.log").read_text(errors="replace")[-600:]
                raise RuntimeError(f"consume_events exited with {process.returncode}: {tail}")
            committed = offsets.total()
            now = time.monotonic()
            if committed and first_seen is None:
                first_seen = (now, committed)
            if committed >= total:
                done_at = now
                break
            if first_seen is None and now - started > NO_PROGRESS_SECONDS:
                tail = (workdir / f"consumer-{stream}.log").read_text(errors="replace")[-600:]
                raise RuntimeError(f"consume_events committed nothing in {NO_PROGRESS_SECONDS}s: {tail}")
            time.sleep(0.25)
        peak = peak_rss_mb(process.pid)
    finally:
        code = stop_process(process, timeout=30)
        offsets.close()
    if done_at is None or first_seen is None:
        raise RuntimeError(f"consume_events did not commit {total} messages within {timeout:.0f}s")
    if done_at - first_seen[0] > 0 and total > first_seen[1]:
        seconds = (done_at - first_seen[0]) * total / (total - first_seen[1])
    else:
        seconds = done_at - started
    stored = int(run_python(COUNT_CODE % project_id, env))
    return ConsumeRun(
        events=event_count(messages),
        produce_seconds=produce_seconds,
        seconds=seconds,
        wall_seconds=done_at - started,
        stored=stored,
        peak_rss_mb=peak,
        exit_code=code,
    )
