"""The event bus: how accepted events leave the API.

embedded: the in-process batch writer, which writes to the store (chDB) before the
request is answered (see analytics/streams/batch_writer.py).
scale: Kafka (see analytics/streams/kafka).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django.conf import settings

from analytics.core.logging import get_logger
from analytics.streams.batch_writer import BatchWriter, rows_digest
from analytics.streams.errors import BusUnavailable
from analytics.streams.kafka.producer import KafkaBus
from analytics.streams.sink import rows_to_arrow, store_event_batch
from analytics.warehouse.store import get_store

log = get_logger(__name__)
PUBLISH_TIMEOUT_SECONDS = 60.0


class EventBus(Protocol):
    async def publish(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def check_health(self) -> None: ...

    def close(self) -> None: ...


def _write(batch: Any, token: str) -> None:
    store_event_batch(batch, dedup_token=token)


class DirectBus:
    """Embedded mode: rows go to the batch writer; publish returns once they are written."""

    def __init__(self, *, interval: float | None = None, max_rows: int | None = None) -> None:
        self.writer = BatchWriter(
            _write,
            interval=settings.INGEST_FLUSH_INTERVAL_MS / 1000 if interval is None else interval,
            max_rows=settings.INGEST_FLUSH_MAX_ROWS if max_rows is None else max_rows,
        )

    @staticmethod
    def _prepare(rows: Sequence[Mapping[str, Any]]) -> tuple[Any, str]:
        """Arrow and the rows' digest, built by the request itself: the writer thread then
        has almost no Python left to do, so it does not fight the event loop for the GIL."""
        return rows_to_arrow(rows), rows_digest(rows)

    async def publish(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        try:
            batch, digest = self._prepare(rows)
            future = self.writer.submit(batch, digest=digest)
            await asyncio.wait_for(asyncio.wrap_future(future), PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:
            raise self._unavailable(error) from error

    def publish_sync(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        try:
            batch, digest = self._prepare(rows)
            self.writer.submit(batch, digest=digest).result(PUBLISH_TIMEOUT_SECONDS)
        except Exception as error:
            raise self._unavailable(error) from error

    @staticmethod
    def _unavailable(error: Exception) -> BusUnavailable:
        if isinstance(error, BusUnavailable):
            return error
        log.warning("ingest.direct_bus.unavailable", error=type(error).__name__, detail=str(error)[:300])
        return BusUnavailable("the event store cannot take events now; retry later", retry_after=5)

    def check_health(self) -> None:
        get_store().ping()

    def close(self) -> None:
        self.writer.close()


_bus: EventBus | None = None


def get_event_bus() -> EventBus:
    global _bus
    if _bus is None:
        _bus = KafkaBus.from_settings() if settings.EVENT_BUS == "kafka" else DirectBus()
    return _bus


def reset_event_bus() -> None:
    global _bus
    if _bus is not None:
        _bus.close()
    _bus = None
