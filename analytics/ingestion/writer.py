"""The store writer: the last hop of ingestion, shared by both modes.

embedded: DirectBus calls it from the API process.
scale: the Kafka consumer (`consume_events`) calls it for each batch.
It writes the events and whatever they imply for other tables (persons), so that the
two modes store exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from analytics.warehouse.store import get_store


def store_event_batch(rows: Sequence[Mapping[str, Any]], *, dedup_token: str) -> int:
    """Insert a batch of enriched event rows once (``dedup_token`` names the batch).

    Returns the number of event rows handed to the store.
    """
    return get_store().insert_events(rows, dedup_token=dedup_token)
