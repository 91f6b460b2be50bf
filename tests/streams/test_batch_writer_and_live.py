"""The embedded batch writer coalesces requests; live updates reach the project's group."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from analytics.accounts.selectors import project_for_write_key
from analytics.core.live import live_group
from analytics.ingestion import live
from analytics.ingestion.validation import RequestContext, native_rows
from analytics.streams.batch_writer import SMALL_FLUSH_ROWS, BatchWriter
from analytics.streams.sink import rows_to_arrow, store_event_batch
from analytics.warehouse.identity import person_id_for
from analytics.warehouse.schema import events_to_arrow
from tests.ingestion.conftest import stored


def rows_for(project_id: int, prefix: str, count: int) -> list[dict]:
    now = int(datetime.now(UTC).timestamp() * 1000)
    return [
        {
            "project_id": project_id,
            "event_id": f"00000000-0000-4000-8000-{prefix}{i:08d}",
            "event": "batched",
            "distinct_id": f"d{i}",
            "person_id": person_id_for(project_id, f"d{i}"),
            "timestamp": now,
            "received_at": now,
        }
        for i in range(count)
    ]


def test_concurrent_requests_are_written_in_few_inserts(project, store):
    writes: list[int] = []

    def write(rows, token):
        writes.append(len(rows))
        store_event_batch(rows, dedup_token=token)

    writer = BatchWriter(write, interval=0.5, max_rows=10_000, quiet=10.0)
    first = writer.submit(rows_for(project.id, "0000", 10))
    first.result(10)  # the first flush of an idle writer goes at once
    futures = [writer.submit(rows_for(project.id, f"{n + 1:04d}", 10)) for n in range(20)]

    assert [future.result(10) for future in futures] == [10] * 20
    writer.close()
    assert sum(writes) == 210
    assert len(writes) <= 3
    assert len(stored(store, project.id)) == 210


def test_a_quiet_gap_flushes_before_the_interval(project, store):
    """When no more rows arrive, the waiting ones are written without waiting out the interval:
    a client with one request in flight gets its answer in milliseconds, not ``interval``."""
    flushed: list[int] = []

    def write(rows, token):
        flushed.append(len(rows))
        store_event_batch(rows, dedup_token=token)

    writer = BatchWriter(write, interval=120.0, max_rows=10_000, quiet=0.01)
    writer.submit(rows_for(project.id, "0e00", 1)).result(10)  # an idle writer flushes at once
    # Within the interval of that flush: only the quiet gap can write these before the timeout.
    assert writer.submit(rows_for(project.id, "0e01", 2)).result(30) == 2
    assert writer.submit(rows_for(project.id, "0e02", 3)).result(30) == 3
    writer.close()

    assert flushed == [1, 2, 3]
    assert len(stored(store, project.id)) == 6


def test_a_large_flush_turns_the_quiet_gap_off(project, store):
    """After a flush of SMALL_FLUSH_ROWS or more the load is high: the interval decides again,
    so rows that trickle in are not written as many small parts."""
    flushed: list[int] = []

    def write(rows, token):
        flushed.append(len(rows))
        store_event_batch(rows, dedup_token=token)

    writer = BatchWriter(write, interval=120.0, max_rows=10_000, quiet=0.01)
    writer.submit(rows_for(project.id, "0f00", SMALL_FLUSH_ROWS)).result(10)  # idle: at once
    waiting = writer.submit(rows_for(project.id, "0f01", 2))
    with pytest.raises(FutureTimeout):
        waiting.result(1.0)  # 100 quiet gaps long, yet not written: the interval decides
    writer.close()  # writes what is queued

    assert waiting.result(10) == 2
    assert flushed == [SMALL_FLUSH_ROWS, 2]


class Boom(Exception):
    """An exception that can be weakly referenced (Exception itself cannot)."""


def test_a_failed_flush_leaves_no_reference_cycle(project, store):
    """Once the requests let go of their futures, the failed batch and its error are freed by
    reference counting: web processes collect cycles rarely (analytics/core/gctuning.py)."""

    def write(rows, token):
        raise Boom("store down")

    writer = BatchWriter(write, interval=0.0, max_rows=10_000)
    gc.disable()
    try:
        future = writer.submit(rows_for(project.id, "1a00", 5))
        with pytest.raises(Boom):
            future.result(10)
        error = weakref.ref(future.exception())
        writer.close()
        del future
        assert error() is None
    finally:
        gc.enable()


def test_a_failed_flush_fails_every_waiting_request(project, store):
    def write(rows, token):
        store_event_batch(rows, dedup_token=token)

    writer = BatchWriter(write, interval=1.0, max_rows=10_000, quiet=10.0)
    writer.submit(rows_for(project.id, "0a00", 1)).result(10)  # an idle writer flushes at once
    # These three gather into the next flush; one row has no event id, so the store refuses it.
    waiting = [
        writer.submit(rows_for(project.id, "0b00", 2)),
        writer.submit([{"project_id": project.id}], digest="broken"),
        writer.submit(rows_for(project.id, "0c00", 2)),
    ]
    for future in waiting:
        with pytest.raises(KeyError):
            future.result(10)
    assert writer.submit(rows_for(project.id, "0d00", 3)).result(10) == 3  # the writer lives on
    writer.close()

    assert len(stored(store, project.id)) == 1 + 3


def test_writer_close_flushes_what_is_queued(project, store):
    started = threading.Event()

    def write(rows, token):
        started.set()
        store_event_batch(rows, dedup_token=token)

    writer = BatchWriter(write, interval=5.0, max_rows=10_000, quiet=10.0)
    writer.submit(rows_for(project.id, "c000", 1)).result(10)
    pending = writer.submit(rows_for(project.id, "c001", 3))
    writer.close()

    assert pending.result(1) == 3
    assert len(stored(store, project.id)) == 4


def test_live_updates_are_sent_and_throttled(project):
    async def scenario() -> tuple[dict, dict]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(live_group(project.id), channel)
        live.notify(project.id, 5)
        live.notify(project.id, 2)  # inside the same second: held back and summed
        live.notify(project.id, 1)
        first = await asyncio.wait_for(layer.receive(channel), 5)
        second = await asyncio.wait_for(layer.receive(channel), 5)
        await live.drain()
        return first, second

    first, second = async_to_sync(scenario)()

    assert first == {"type": "live.update", "accepted": 5}
    assert second == {"type": "live.update", "accepted": 3}


def test_a_cancelled_request_does_not_stop_the_writer(project, store):
    writer = BatchWriter(lambda rows, token: store_event_batch(rows, dedup_token=token), interval=0.3, max_rows=10_000)
    writer.submit(rows_for(project.id, "d000", 1)).result(10)
    gone = writer.submit(rows_for(project.id, "d001", 1))
    gone.cancel()  # what asyncio does when the client disconnects while waiting
    after = writer.submit(rows_for(project.id, "d002", 1))

    assert after.result(10) == 1
    writer.close()
    assert len(stored(store, project.id)) == 3


def test_fast_arrow_conversion_of_pipeline_rows_matches_the_general_one(project):
    context = RequestContext(
        project=project_for_write_key(project.write_key),
        received_at_ms=1_763_900_000_000,
        sent_at_ms=1_763_900_000_500,
        ip="10.0.0.0",
        user_agent="Mozilla/5.0 Firefox/128.0",
    )
    rows = native_rows(
        context,
        [
            {"event": "a", "distinct_id": "x", "properties": {"revenue": 2.5, "$current_url": "https://x.test/"}},
            {"event": "b", "distinct_id": "y", "timestamp": 1_900_000_000_000},
        ],
    ).rows

    assert rows_to_arrow(rows).equals(events_to_arrow(rows))
    with pytest.raises(KeyError):
        rows_to_arrow([{"project_id": 1}])
