"""The store writer: the last hop of ingestion, shared by both modes.

embedded: DirectBus (through its batch writer) calls it from the API process.
scale: the Kafka consumer (`consume_events`) calls it for each batch.
It writes the events and whatever they imply for other tables (persons), so that the
two modes store exactly the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from analytics.streams.live import record_stored
from analytics.streams.persons import MERGE_EVENTS, persons_apply
from analytics.warehouse.data_version import bump_data_versions
from analytics.warehouse.schema import ARROW_SCHEMA, EVENT_COLUMNS, events_to_arrow
from analytics.warehouse.store import get_store

_COLUMN_COUNT = len(EVENT_COLUMNS)


def rows_to_arrow(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The Arrow batch of event rows. Complete rows (what the API pipeline builds) convert in
    one C++ pass, cheaper than the general column-by-column conversion, which the
    rest takes (and which raises KeyError for a row missing a required column)."""
    first = rows[0] if rows else None
    if (
        first is not None
        and all(name in first for name in EVENT_COLUMNS)
        and all(len(row) == _COLUMN_COUNT for row in rows)
    ):
        try:
            return pa.Table.from_pylist(list(rows), schema=ARROW_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            pass
    return events_to_arrow(rows)


def _person_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows of an Arrow batch (the Kafka consumer's) that may change persons, as row dicts.

    Filtered in Arrow so ordinary traffic costs no per-row Python; times become epoch ms.
    """
    mask = pc.or_(
        pc.is_in(table["event"], value_set=pa.array(sorted(MERGE_EVENTS), pa.string())),
        pc.match_substring(table["properties"], '"$set'),
    )
    subset = table.filter(pc.fill_null(mask, False))
    if subset.num_rows == 0:
        return []
    for index, field in enumerate(subset.schema):
        if pa.types.is_timestamp(field.type):
            subset = subset.set_column(index, field.name, subset[field.name].cast(pa.int64()))
    return subset.to_pylist()


def store_event_batch(rows: Sequence[Mapping[str, Any]] | pa.Table, *, dedup_token: str) -> int:
    """Insert a batch of enriched event rows once (``dedup_token`` names the batch), then
    the person changes they imply (identify/alias merges, ``$set``/``$set_once``).

    Returns the number of event rows handed to the store. Retrying with the same token
    after a failure writes nothing twice.
    """
    store = get_store()
    person_rows: Sequence[Mapping[str, Any]]
    if isinstance(rows, pa.Table):
        table, person_rows = rows, _person_rows(rows)
    else:
        table, person_rows = rows_to_arrow(rows), rows
    inserted = store.insert_events(table, dedup_token=dedup_token)
    persons_apply(store, person_rows, dedup_token=dedup_token)
    # Cached query answers of these projects are now stale (analytics.query.cache).
    bump_data_versions(pc.unique(table["project_id"]).to_pylist())
    record_stored(table)  # the live counters and their group message (analytics/streams/live.py)
    return inserted
