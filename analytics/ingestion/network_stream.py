"""The ``network-actions`` stream: the providers' Kafka topic -> the event store.

Providers publish network actions in their own shape (``network_actions.py``) to a source
topic (``TELECOM_KAFKA_TOPIC``, default ``events.telecom``, keyed by ``user_id``); the topic
is bound to one project (``TELECOM_PROJECT_ID``). ``manage.py consume_events --stream
network-actions`` reads it with the consumer loop of every stream
(``analytics/streams/consumer.py``: at-least-once, offsets committed after the write,
batching, retries while the store is down, graceful shutdown on SIGTERM/SIGINT).

Each message value is one provider message (JSON object), or several separated by
newlines. The processor is the events stream's (:class:`EventsProcessor`: intent log,
de-duplication token per partition batch, insert bisection, dead letters) with another
decoder: each message is validated and mapped to the stored row exactly as the HTTP
endpoint does, and a refused one becomes a dead letter whose reason is the validation's
(``invalid_type``, ``inconsistent_duration``, ...; ``undecodable`` for broken JSON). The
decoder (``network_actions_batch.py``) checks the rules on whole columns of a batch and
builds its Arrow rows at once; any message it cannot decide exactly goes through the
per-message path.

Every :data:`REFRESH_SECONDS` (and after each partition assignment) the store's duplicate
filter reads what other writers (the events stream, the web process) inserted since its last
look, so a pair ``(source_id, event_id)`` that arrived over HTTP first is recognised here too
(``warehouse/once.py``); in one process (embedded mode, the tests) every write is known at once.

The stream is registered in :data:`analytics.streams.registry.STREAMS` by this app's
``ready()``: the registry lives in a lower layer and cannot import ingestion.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from analytics.accounts.models import Project
from analytics.accounts.selectors import IngestionProject
from analytics.ingestion.network_actions import LIB
from analytics.ingestion.network_actions_batch import decode_network_actions
from analytics.ingestion.selectors import event_schemas_for_project
from analytics.ingestion.validation import RequestContext
from analytics.streams.batching import FlushGroup
from analytics.streams.dead_letters import DeadLetterProducer
from analytics.streams.events import EventsProcessor, WriteResult, open_store
from analytics.streams.kafka.wire import DecodedBatch
from analytics.streams.registry import BatchProcessor, StreamSpec
from analytics.warehouse.store import EVENTS_TABLE

STREAM_NAME = "network-actions"
# How often the duplicate filter reads what other writers inserted: each read covers the
# store's overlap window too, so reading before every group would cost more than the group.
REFRESH_SECONDS = 10.0


def bound_project() -> IngestionProject:
    """The project the source topic is bound to (``TELECOM_PROJECT_ID``)."""
    project_id = int(settings.TELECOM_PROJECT_ID or 0)
    project = Project.objects.filter(id=project_id).first() if project_id else None
    if project is None:
        raise ImproperlyConfigured(
            f"TELECOM_PROJECT_ID={project_id or ''} names no project: set it to the id of the project "
            "the network-actions topic is bound to"
        )
    return IngestionProject.from_project(project)


class NetworkActionsProcessor(EventsProcessor):
    """The events processor with the providers' decoder; see the module docstring."""

    def __init__(self, *, stream: str, group: str, dead_letters: DeadLetterProducer, project: IngestionProject) -> None:
        super().__init__(stream=stream, group=group, dead_letters=dead_letters)
        self.project = project
        self._refreshed_at = 0.0

    def _context(self) -> RequestContext:
        try:
            schemas = event_schemas_for_project(self.project.id)  # cached for a while
        finally:
            # The decoder and writer threads keep no database connection open between groups.
            if threading.current_thread() is not threading.main_thread():
                connection.close()
        return RequestContext(project=self.project, received_at_ms=int(time.time() * 1000), lib=LIB, schemas=schemas)

    def _decode(self, messages: list[Any], context: RequestContext) -> DecodedBatch:
        return decode_network_actions([message.value() or b"" for message in messages], context)

    def prepare(self, group: FlushGroup) -> None:
        pending = [batch for batch in group.batches if batch.decoded is None]
        if not pending:
            return
        context = self._context()
        for batch in pending:
            batch.decoded = self._decode(batch.messages, context)

    def write(self, group: FlushGroup) -> WriteResult:
        now = time.monotonic()
        if now - self._refreshed_at >= REFRESH_SECONDS:
            # Learn what other writers stored since the last look (HTTP copies of these actions).
            open_store().stored_events.refresh(EVENTS_TABLE)
            self._refreshed_at = now
        return super().write(group)


def build_network_actions_processor(spec: StreamSpec) -> BatchProcessor:
    project = bound_project()
    dead_letters = DeadLetterProducer(spec.dead_letter_topic, spec.name, timeout=float(settings.KAFKA_PRODUCE_TIMEOUT))
    return NetworkActionsProcessor(stream=spec.name, group=spec.group, dead_letters=dead_letters, project=project)


NETWORK_ACTIONS_STREAM = StreamSpec(
    name=STREAM_NAME,
    topic_setting="TELECOM_KAFKA_TOPIC",
    group_setting="TELECOM_CONSUMER_GROUP",
    dead_letter_setting="TELECOM_DEAD_LETTER_TOPIC",
    build=build_network_actions_processor,
)
