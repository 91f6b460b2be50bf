"""The store writer: the last hop of ingestion, shared by both modes.

embedded: DirectBus (through its batch writer) calls it from the API process.
scale: the Kafka consumer (`consume_events`) calls it for each batch.
It writes the events and whatever they imply for other tables (persons), so that the
two modes store exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analytics.ingestion.persons import persons_apply
from analytics.warehouse.store import get_store


def store_event_batch(rows: Sequence[Mapping[str, Any]], *, dedup_token: str) -> int:
    """Insert a batch of enriched event rows once (``dedup_token`` names the batch), then
    the person changes they imply (identify/alias merges, ``$set``/``$set_once``).

    Returns the number of event rows handed to the store. Retrying with the same token
    after a failure writes nothing twice.
    """
    store = get_store()
    inserted = store.insert_events(rows, dedup_token=dedup_token)
    persons_apply(store, rows, dedup_token=dedup_token)
    return inserted
