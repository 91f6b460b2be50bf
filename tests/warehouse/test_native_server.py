"""The clickhouse-driver transport over the native protocol, against a REAL ClickHouse server.

What is checked where (also in docs/event-store.md):
- Here: the wire path of :class:`NativeTransport` through the store against the server
  this machine can install (Debian's clickhouse-server 18.16): connect with LZ4, columnar
  insert, select back to Arrow, error mapping, the client-side parameter rendering that
  an 18.16 server needs (it has no query parameters), a server going away.
- 18.16 has no DateTime64, no LowCardinality by default, no query parameters and no
  insert_deduplication_token, so these tests use a table of the types it has. The events
  schema, FINAL de-duplication and server-side parameters are tested on chDB, a current
  ClickHouse (tests/warehouse/test_*.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from analytics.warehouse.errors import StoreQueryError, StoreUnavailable
from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore
from analytics.warehouse.transports.native import NativeTransport
from tests.warehouse.clickhouse_server import ClickHouseServer

pytestmark = pytest.mark.clickhouse_server

NASTY = "a'b\\c\"d`e\n\t\r\x00\x01\x7f 🙂 שלום {x:String} %s %(x)s"
TABLE_DDL = """
CREATE TABLE IF NOT EXISTS wire_events (
    project_id UInt64,
    event_id UUID,
    event String,
    distinct_id String,
    timestamp DateTime('UTC'),
    properties String,
    flags Array(String),
    revenue Nullable(Float64),
    retention_days UInt16
) ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, toStartOfHour(timestamp), event, event_id)
"""


def _store(url: str, *, retries: int = 0) -> EventStore:
    transport = NativeTransport.from_url(url, query_timeout=10, connect_timeout=2)
    return EventStore(transport, retries=retries, breaker_fail_max=50)


@pytest.fixture(scope="module")
def wire_store(clickhouse_server: ClickHouseServer) -> Iterator[EventStore]:
    store = _store(clickhouse_server.url)
    store.command(TABLE_DDL)
    yield store
    store.close()


def _batch(project_id: int, size: int) -> pa.Table:
    moment = datetime(2026, 3, 14, 12, 0, 1, tzinfo=UTC)
    return pa.table(
        {
            "project_id": pa.array([project_id] * size, pa.uint64()),
            "event_id": pa.array([str(uuid.uuid4()) for _ in range(size)]),
            "event": pa.array(["signup" if index % 2 else "pageview" for index in range(size)]),
            "distinct_id": pa.array([f"user-{index}" if index else NASTY for index in range(size)]),
            "timestamp": pa.array([moment] * size, pa.timestamp("s", tz="UTC")),
            "properties": pa.array(['{"k": "' + "x" * 100 + '"}'] * (size - 1) + ["{}"]),
            "flags": pa.array([["a", NASTY]] + [[] for _ in range(size - 1)], pa.list_(pa.string())),
            "revenue": pa.array([1.5] + [None] * (size - 1), pa.float64()),
            "retention_days": pa.array([365] * size, pa.uint16()),
        }
    )


def test_connects_over_lz4_to_an_old_server_without_query_parameters(wire_store: EventStore) -> None:
    transport = wire_store.transport
    assert isinstance(transport, NativeTransport)
    wire_store.ping()
    assert transport.server_version().startswith("18.")
    assert transport._client_kwargs["compression"] == "lz4"
    assert transport.server_side_params() is False  # so placeholders are rendered client-side
    # 18.16 predates optimize_on_insert: event inserts must not send it (the server would refuse them).
    assert transport.supports_setting("optimize_on_insert") is False
    assert transport.supports_setting("max_threads") is True
    assert wire_store.event_insert_settings() == {}


def test_columnar_insert_and_select_round_trip(wire_store: EventStore) -> None:
    batch = _batch(project_id=101, size=200)
    wire_store.insert_arrow("wire_events", batch, dedup_token="wire-101")
    result = wire_store.query(
        Query(
            name="test.wire.select",
            sql="SELECT event_id, event, distinct_id, timestamp, properties, flags, revenue, retention_days "
            "FROM wire_events FINAL WHERE project_id = {project_id:UInt64} ORDER BY distinct_id",
            params={"project_id": 101},
        )
    )
    assert len(result) == 200
    rows = {row["distinct_id"]: row for row in result.dicts()}
    first = rows[NASTY]
    assert first["flags"] == ["a", NASTY]
    assert first["revenue"] == 1.5
    assert first["timestamp"] == datetime(2026, 3, 14, 12, 0, 1, tzinfo=UTC)
    assert first["retention_days"] == 365
    assert rows["user-1"]["revenue"] is None
    assert result.table.schema.field("event_id").type == pa.uuid()
    assert {row["event_id"] for row in result.dicts()} == {uuid.UUID(value) for value in batch["event_id"].to_pylist()}


@pytest.mark.parametrize(
    ("project_id", "value", "expected_count"),
    [
        (201, NASTY, 1),
        (202, "' OR 1=1 --", 0),
        (203, "user-7", 1),
    ],
    ids=["nasty-text", "injection-attempt", "plain"],
)
def test_rendered_parameters_are_data_on_the_wire(
    wire_store: EventStore, project_id: int, value: str, expected_count: int
) -> None:
    wire_store.insert_arrow("wire_events", _batch(project_id=project_id, size=10))
    count = wire_store.query(
        Query(
            name="test.wire.param",
            sql="SELECT count() FROM wire_events WHERE project_id = {project_id:UInt64} AND distinct_id = {name:String}",
            params={"project_id": project_id, "name": value},
        )
    ).scalar()
    assert count == expected_count


def test_uuid_and_array_parameters_on_the_wire(wire_store: EventStore) -> None:
    batch = _batch(project_id=303, size=5)
    wire_store.insert_arrow("wire_events", batch, dedup_token="wire-303")
    wanted = [uuid.UUID(value) for value in batch["event_id"].to_pylist()[:2]]
    result = wire_store.query(
        Query(
            name="test.wire.uuids",
            sql="SELECT count(), has({names:Array(String)}, 'user-1') FROM wire_events "
            "WHERE project_id = {project_id:UInt64} AND has({ids:Array(UUID)}, event_id)",
            params={"project_id": 303, "ids": wanted, "names": ["user-1", NASTY]},
        )
    )
    assert result.rows() == [(2, 1)]


def test_a_server_error_is_a_query_error(wire_store: EventStore) -> None:
    with pytest.raises(StoreQueryError, match="Code: 60"):
        wire_store.query(Query(name="test.wire.missing", sql="SELECT * FROM no_such_table"))
    with pytest.raises(StoreQueryError, match="Code: 62"):
        wire_store.command("SELEC 1")
    assert wire_store.query(Query(name="test.wire.after", sql="SELECT 1")).scalar() == 1  # connection reused


def test_a_query_timeout_on_the_server_is_transient(wire_store: EventStore) -> None:
    with pytest.raises(StoreUnavailable, match="Code: 159"):
        wire_store.query(
            Query(
                name="test.wire.timeout",
                sql="SELECT count() FROM system.numbers WHERE sipHash64(number) = 0",
                settings={"max_execution_time": 1},
            )
        )


def test_an_insert_of_the_wrong_type_is_a_query_error(wire_store: EventStore) -> None:
    bad = pa.table({"project_id": pa.array(["not a number"])})
    with pytest.raises(StoreQueryError):
        wire_store.insert_arrow("wire_events", bad)
    wire_store.ping()  # the broken connection was replaced


def test_a_server_that_goes_away_is_unavailable(start_clickhouse_server: Callable[[], ClickHouseServer]) -> None:
    server = start_clickhouse_server()
    store = _store(server.url, retries=1)
    store.ping()
    server.kill()
    with pytest.raises(StoreUnavailable):
        store.query(Query(name="test.wire.gone", sql="SELECT 1"))
    with pytest.raises(StoreUnavailable):
        store.ping()
