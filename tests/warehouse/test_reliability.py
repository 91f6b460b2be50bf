"""Error classification, retries, the circuit breaker and the store's metrics.

Real failures only: a chDB syntax error, a chDB query timeout, and a clickhouse:// URL
pointing at a closed local port for connection errors.
"""

from __future__ import annotations

import gc
import socket
import sys

import pytest
from prometheus_client import REGISTRY

from analytics.core.errors import ServiceUnavailable
from analytics.warehouse.errors import StoreCircuitOpen, StoreQueryError, StoreUnavailable, read_or_unavailable
from analytics.warehouse.guard import Query
from analytics.warehouse.schema import events_to_arrow
from analytics.warehouse.store import EventStore
from analytics.warehouse.transports.common import classify_error_code
from analytics.warehouse.transports.native import NativeTransport
from tests.warehouse.helpers import count_events, event_row, new_project_id


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens


def _unreachable_store(*, retries: int, fail_max: int = 3) -> EventStore:
    transport = NativeTransport.from_url(
        f"clickhouse://default@127.0.0.1:{_closed_port()}/default", query_timeout=2, connect_timeout=1
    )
    return EventStore(transport, retries=retries, breaker_fail_max=fail_max, breaker_reset_timeout=300)


def test_a_bad_statement_is_permanent_and_not_retried(store: EventStore) -> None:
    retries_before = _metric("store_retries_total", operation="query:test.bad_sql")
    errors_before = _metric("store_errors_total", kind="StoreQueryError", operation="query:test.bad_sql")
    with pytest.raises(StoreQueryError, match="Code: 62"):
        store.query(Query(name="test.bad_sql", sql="SELEC 1"))
    assert _metric("store_retries_total", operation="query:test.bad_sql") == retries_before
    assert _metric("store_errors_total", kind="StoreQueryError", operation="query:test.bad_sql") == errors_before + 1


def test_a_query_timeout_is_transient_and_retried(store: EventStore) -> None:
    impatient = EventStore(store.transport, retries=1)
    query = Query(
        name="test.timeout",
        sql="SELECT count() FROM system.numbers WHERE sipHash64(number) = 0",
        settings={"max_execution_time": 0.2},
    )
    before = _metric("store_retries_total", operation="query:test.timeout")
    with pytest.raises(StoreUnavailable, match="Code: 159"):
        impatient.query(query)
    assert _metric("store_retries_total", operation="query:test.timeout") == before + 1


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (159, StoreUnavailable),
        (210, StoreUnavailable),
        (241, StoreUnavailable),
        (252, StoreUnavailable),
        (242, StoreUnavailable),
        (999, StoreUnavailable),
        (62, StoreQueryError),
        (60, StoreQueryError),
        (47, StoreQueryError),
        (None, StoreQueryError),
    ],
)
def test_error_codes_are_classified(code: int | None, kind: type) -> None:
    assert type(classify_error_code(code, "message")) is kind


def test_an_unreachable_server_is_unavailable_after_retries() -> None:
    store = _unreachable_store(retries=2, fail_max=10)
    before = _metric("store_retries_total", operation="ping")
    with pytest.raises(StoreUnavailable, match=r"Connection refused|ConnectionRefused|NetworkError"):
        store.ping()
    assert _metric("store_retries_total", operation="ping") == before  # ping is never retried
    with pytest.raises(StoreUnavailable):
        store.query(Query(name="test.unreachable", sql="SELECT 1"))
    assert _metric("store_retries_total", operation="query:test.unreachable") >= 2


def test_the_circuit_opens_after_repeated_unavailability_and_then_fails_fast() -> None:
    store = _unreachable_store(retries=0, fail_max=3)
    open_before = _metric("store_errors_total", kind="circuit_open", operation="ping")
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            store.ping()
    assert store.breaker.current_state == "open"
    with pytest.raises(StoreCircuitOpen):
        store.ping()
    assert _metric("store_errors_total", kind="circuit_open", operation="ping") >= open_before + 1
    # Inserts have a breaker of their own, which trips the same way.
    for _ in range(3):
        with pytest.raises(StoreUnavailable):
            store.insert_events([event_row(1)], dedup_token="never-sent")
    assert store.insert_breaker.current_state == "open"
    with pytest.raises(StoreCircuitOpen):
        store.insert_events([event_row(1)], dedup_token="never-sent")


def test_an_open_query_circuit_does_not_stop_inserts(store: EventStore) -> None:
    """Heavy queries timing out (rollups, reports) must not fail every insert."""
    fragile = EventStore(store.transport, retries=0, breaker_fail_max=1)
    fragile.breaker.open()
    with pytest.raises(StoreCircuitOpen):
        fragile.query(Query(name="test.open", sql="SELECT 1"))
    project_id = new_project_id()
    fragile.insert_events([event_row(project_id)], dedup_token=f"beside-open-circuit-{project_id}")
    assert count_events(store, project_id) == 1


def test_an_open_circuit_is_not_retried() -> None:
    store = _unreachable_store(retries=3, fail_max=1)
    with pytest.raises(StoreUnavailable):
        store.ping()
    before = _metric("store_retries_total", operation="query:test.open")
    with pytest.raises(StoreCircuitOpen):
        store.query(Query(name="test.open", sql="SELECT 1"))
    assert _metric("store_retries_total", operation="query:test.open") == before


def test_bad_statements_do_not_open_the_circuit(store: EventStore) -> None:
    fragile = EventStore(store.transport, retries=0, breaker_fail_max=2)
    for _ in range(5):
        with pytest.raises(StoreQueryError):
            fragile.query(Query(name="test.bad", sql="SELECT no_such_column"))
    assert fragile.breaker.current_state == "closed"
    assert fragile.query(Query(name="test.good", sql="SELECT 1")).scalar() == 1


def test_inserts_and_queries_are_measured(store: EventStore) -> None:
    project_id = new_project_id()
    rows_before = _metric("store_rows_inserted_total", transport="chdb")
    bytes_before = _metric("store_bytes_inserted_total", transport="chdb")
    inserts_before = _metric("store_insert_duration_seconds_count", transport="chdb")
    queries_before = _metric("store_query_duration_seconds_count", query="test.metrics", transport="chdb")

    store.insert_events([event_row(project_id) for _ in range(3)], dedup_token=f"m-{project_id}")
    store.query(
        Query(
            name="test.metrics",
            sql="SELECT 1 FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id},
        )
    )

    assert _metric("store_rows_inserted_total", transport="chdb") == rows_before + 3
    assert _metric("store_bytes_inserted_total", transport="chdb") > bytes_before
    assert _metric("store_insert_duration_seconds_count", transport="chdb") == inserts_before + 1
    assert _metric("store_query_duration_seconds_count", query="test.metrics", transport="chdb") == queries_before + 1


def test_an_insert_needs_a_dedup_token(store: EventStore) -> None:
    with pytest.raises(StoreQueryError, match="dedup_token"):
        store.insert_events([event_row(1)], dedup_token="")


def test_the_session_answers_correctly_after_a_query_failed_half_way(store: EventStore) -> None:
    """chDB leaves a failed streaming answer behind; the transport drains it."""
    with pytest.raises(StoreUnavailable):
        store.transport.query(
            "SELECT count() FROM system.numbers WHERE sipHash64(number) = 0", {}, {"max_execution_time": 0.2}
        )
    assert store.query(Query(name="test.after_timeout", sql="SELECT 7")).scalar() == 7


def test_an_insert_keeps_no_reference_to_its_batch(store: EventStore) -> None:
    """Freed by reference counting alone: the web and consumer processes run a collector
    tuned to rare full collections (analytics/core/gctuning.py), so a batch caught in a
    reference cycle (tenacity's decorator made one per call) stayed in memory for minutes."""
    project_id = new_project_id()
    table = events_to_arrow([event_row(project_id) for _ in range(50)])
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        before = sys.getrefcount(table)
        store.insert_events(table, dedup_token=f"no-cycle-{project_id}")
        store.query(
            Query(
                name="test.after_insert",
                sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}",
                params={"project_id": project_id},
            )
        )
        assert sys.getrefcount(table) == before
    finally:
        if was_enabled:
            gc.enable()


def test_an_unreachable_store_answers_the_api_with_a_503_that_names_no_host() -> None:
    """Every read endpoint wraps its store read in ``read_or_unavailable``."""
    store = _unreachable_store(retries=0)
    with pytest.raises(ServiceUnavailable) as raised:
        read_or_unavailable(lambda: store.query(Query(name="test.api_down", sql="SELECT 1")))
    assert raised.value.retry_after == 5
    assert raised.value.message == "the event store is unavailable; retry shortly"
    assert "127.0.0.1" not in str(raised.value)
    store.close()
