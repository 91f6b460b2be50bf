"""The event bus: how accepted events leave the API.

embedded: straight to the store (chDB) in this process.
scale: Kafka (see analytics/ingestion/kafka).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings

from analytics.core.errors import ServiceUnavailable
from analytics.ingestion.writer import store_event_batch
from analytics.warehouse.errors import StoreUnavailable
from analytics.warehouse.store import get_store


class BusUnavailable(ServiceUnavailable):
    """The bus did not acknowledge the events; nothing may be reported as accepted."""


class EventBus(Protocol):
    async def publish(self, rows: Sequence[Mapping[str, Any]]) -> None: ...

    def check_health(self) -> None: ...

    def close(self) -> None: ...


class DirectBus:
    """Embedded mode: write to the store before answering."""

    async def publish(self, rows: Sequence[Mapping[str, Any]]) -> None:
        await sync_to_async(self.publish_sync, thread_sensitive=False)(rows)

    def publish_sync(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        token = hashlib.sha256(
            b"|".join(f"{row['project_id']}:{row['event_id']}".encode() for row in rows)
        ).hexdigest()
        try:
            store_event_batch(rows, dedup_token=f"direct:{token}")
        except StoreUnavailable as error:
            raise BusUnavailable("the event store is unavailable; retry later", retry_after=5) from error

    def check_health(self) -> None:
        get_store().ping()

    def close(self) -> None:
        return None


_bus: EventBus | None = None


def get_event_bus() -> EventBus:
    global _bus
    if _bus is None:
        if settings.EVENT_BUS == "kafka":
            from analytics.ingestion.kafka.producer import KafkaBus

            _bus = KafkaBus.from_settings()
        else:
            _bus = DirectBus()
    return _bus


def reset_event_bus() -> None:
    global _bus
    if _bus is not None:
        _bus.close()
    _bus = None
