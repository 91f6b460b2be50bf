"""The benchmark entry point keeps its contract (no timing is asserted here)."""

from __future__ import annotations

import pytest

from analytics.devtools.bench.insert_measure import measure_insert
from analytics.warehouse.schema import events_to_arrow
from analytics.warehouse.store import EventStore
from tests.warehouse.helpers import event_row, new_project_id


def _tables(store: EventStore) -> set[str]:
    return {
        name
        for (name,) in store.query_unscoped_admin(
            "test.tables", "SELECT name FROM system.tables WHERE database = currentDatabase()"
        ).rows()
    }


def test_measure_insert_reports_both_sides_and_cleans_up(store: EventStore) -> None:
    before = _tables(store)
    table = events_to_arrow([event_row(new_project_id()) for _ in range(30)])
    report = measure_insert("chdb", table, batch_rows=10, store=store)
    assert set(report) == {
        "transport",
        "rows",
        "batches",
        "batch_rows",
        "store_seconds",
        "raw_seconds",
        "store_rows_per_second",
        "raw_rows_per_second",
        "ratio",
        "raw_label",
    }
    assert (report["transport"], report["rows"], report["batches"]) == ("chdb", 30, 3)
    assert report["store_rows_per_second"] > 0
    assert report["raw_rows_per_second"] > 0
    assert _tables(store) == before


def test_measure_insert_refuses_an_unknown_transport(store: EventStore) -> None:
    with pytest.raises(ValueError, match="unknown transport"):
        measure_insert("http", events_to_arrow([event_row(1)]), store=store)


def test_native_measurement_needs_a_server_url() -> None:
    with pytest.raises(ValueError, match="needs url"):
        measure_insert("native", events_to_arrow([event_row(1)]))
