"""The benchmark data generator: deterministic, in the events schema, skewed, with funnels."""

from __future__ import annotations

import json
from collections import Counter

import pyarrow.compute as pc
import pytest

from analytics.devtools.bench.data import TELECOM_EVENTS, DataSpec, api_events, generate, iter_batches
from analytics.warehouse.guard import Query
from analytics.warehouse.schema import ARROW_SCHEMA

SPEC = DataSpec(events=40_000, users=4_000, batch_rows=15_000)


@pytest.fixture(scope="module")
def table():
    return generate(SPEC)


def test_same_seed_gives_the_same_data(table):
    assert generate(SPEC).equals(table)


def test_another_seed_gives_other_data(table):
    other = generate(DataSpec(events=SPEC.events, users=SPEC.users, batch_rows=SPEC.batch_rows, seed=7))
    assert not other.equals(table)
    assert other.column("event_id").to_pylist() != table.column("event_id").to_pylist()


def test_schema_and_sizes(table):
    assert table.schema.equals(ARROW_SCHEMA)
    assert table.num_rows == SPEC.events
    assert [batch.num_rows for batch in iter_batches(SPEC)] == [15_000, 15_000, 10_000]
    assert len(set(table.column("event_id").to_pylist())) == SPEC.events
    assert DataSpec.for_scale(1.0).events == 10_000_000
    assert DataSpec.for_scale(1.0).users == 1_000_000
    assert DataSpec.for_scale(10).events == 100_000_000


def test_timestamps_run_forward_at_the_configured_rate(table):
    timestamps = table.column("timestamp").cast("int64")
    assert pc.min(timestamps).as_py() >= SPEC.start_ms
    # Sessions start inside the range; their later events may run past it by minutes.
    assert pc.max(timestamps).as_py() < SPEC.end_ms + 3 * 3600 * 1000
    received = table.column("received_at").cast("int64")
    assert pc.all(pc.greater(received, timestamps)).as_py()


def test_confined_data_falls_inside_its_range():
    spec = DataSpec(events=20_000, users=2_000, events_per_second=20_000 / 3600, confine=True)
    timestamps = generate(spec).column("timestamp").cast("int64")
    assert pc.min(timestamps).as_py() >= spec.start_ms
    assert pc.max(timestamps).as_py() < spec.end_ms == spec.start_ms + 3600 * 1000


def test_users_are_skewed(table):
    per_user = Counter(table.column("distinct_id").to_pylist())
    counts = sorted(per_user.values(), reverse=True)
    top_one_percent = sum(counts[: max(1, len(counts) // 100)])
    assert top_one_percent > 0.08 * SPEC.events  # a few heavy users ...
    mean = SPEC.events / len(counts)
    assert counts[len(counts) // 2] < 0.75 * mean  # ... and many light ones
    assert counts[0] > 20 * mean
    # Return visits: the heaviest users come back in many sessions.
    sessions_per_user: dict[str, set[str]] = {}
    for distinct_id, session in zip(
        table.column("distinct_id").to_pylist(), table.column("session_id").to_pylist(), strict=True
    ):
        sessions_per_user.setdefault(distinct_id, set()).add(session)
    assert max(len(sessions) for sessions in sessions_per_user.values()) > 20


def test_funnels_end_in_signup_and_purchase_with_revenue(table):
    rows = table.select(["session_id", "event", "timestamp", "revenue", "distinct_id"]).to_pylist()
    by_session: dict[str, list[dict]] = {}
    for row in rows:
        by_session.setdefault(row["session_id"], []).append(row)
    purchases = 0
    for session in by_session.values():
        names = [row["event"] for row in sorted(session, key=lambda row: row["timestamp"])]
        assert len({row["distinct_id"] for row in session}) == 1
        if "purchase" in names:
            purchases += 1
            assert names[0] == "page_view"
            assert names.index("signup") < names.index("purchase")
    assert purchases > 50
    for row in rows:
        assert (row["revenue"] is not None) == (row["event"] == "purchase")
        if row["revenue"] is not None:
            assert row["revenue"] > 0


def test_telecom_actions_carry_their_measures(table):
    telecom = table.filter(pc.is_in(table.column("event"), value_set=__import__("pyarrow").array(TELECOM_EVENTS)))
    assert 0.1 * SPEC.events < telecom.num_rows < 0.4 * SPEC.events
    for row in telecom.slice(0, 500).to_pylist():
        properties = json.loads(row["properties"])
        assert {"duration_sec", "bytes_up", "bytes_down", "started_at", "ended_at", "meta"} <= properties.keys()
        assert properties["ended_at"] - properties["started_at"] == properties["duration_sec"] * 1000
        if row["event"] == "DATA":
            assert properties["bytes_down"] > 0
        if row["event"] in ("CALL_OUT", "CALL_IN"):
            assert properties["duration_sec"] > 0


def test_api_events_are_what_the_ingestion_api_takes(table):
    events = api_events(table.slice(0, 3))
    assert set(events[0]) == {"event_id", "event", "distinct_id", "timestamp", "properties"}
    assert isinstance(events[0]["timestamp"], int)
    assert isinstance(events[0]["properties"], dict)


@pytest.mark.django_db
def test_batches_insert_into_the_event_store(store):
    spec = DataSpec(events=5_000, users=500, project_id=987_654, batch_rows=2_000)
    for index, batch in enumerate(iter_batches(spec)):
        store.insert_events(batch, dedup_token=f"test-bench-data-{index}")
    count = store.query(
        Query(
            name="test.bench.count",
            sql="SELECT count(), uniqExact(distinct_id) FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": spec.project_id},
        )
    ).rows()[0]
    assert count[0] == spec.events
    assert 0 < count[1] <= spec.users
