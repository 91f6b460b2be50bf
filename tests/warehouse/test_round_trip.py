"""Every column type of events survives the insert and comes back as written."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from analytics.warehouse.guard import Query
from analytics.warehouse.schema import EVENT_COLUMNS, events_to_arrow
from analytics.warehouse.store import EventStore
from tests.warehouse.helpers import BASE_MS, event_row, new_project_id

NASTY_TEXT = (
    "emoji 🙂👩‍👩‍👧 RTL שלום مرحبا, quotes ' \" `, backslash \\ NUL \x00 controls \x01\x07\x1b\t\r\n\x7f {x:String}"
)


def _read_back(store: EventStore, project_id: int) -> list[dict[str, Any]]:
    return store.query(
        Query(
            name="test.read_back",
            sql="SELECT * FROM events WHERE project_id = {project_id:UInt64} ORDER BY timestamp, event_id",
            params={"project_id": project_id},
        )
    ).dicts()


def test_every_column_round_trips(store: EventStore) -> None:
    project_id = new_project_id()
    row = event_row(
        project_id,
        event="$purchase",
        distinct_id="distinct-" + NASTY_TEXT,
        session_id="session-1",
        timestamp=BASE_MS + 123,
        received_at=BASE_MS + 456,
        sent_at=BASE_MS + 400,
        source_id="web",
        lib="analytics-js",
        lib_version="1.2.3",
        properties=json.dumps({"plan": "pro", "text": NASTY_TEXT}),
        url="https://example.com/p?q=1&r=' OR 1=1 --",
        referrer="https://ref.example/",
        browser="Firefox",
        browser_version="130.0",
        os="Linux",
        os_version="6.1",
        device_type="Desktop",
        country="IL",
        ip="203.0.113.0",
        revenue=12.34,
        flags=["bot", "late"],
        retention_days=730,
    )
    store.insert_events([row], dedup_token=f"rt-{project_id}")
    [stored] = _read_back(store, project_id)

    assert set(stored) == set(EVENT_COLUMNS) | {"inserted_at"}
    assert stored["event_id"] == uuid.UUID(row["event_id"])
    assert stored["person_id"] == uuid.UUID(row["person_id"])
    assert stored["timestamp"] == datetime.fromtimestamp((BASE_MS + 123) / 1000, tz=UTC)
    assert stored["received_at"] == datetime.fromtimestamp((BASE_MS + 456) / 1000, tz=UTC)
    assert stored["sent_at"] == datetime.fromtimestamp((BASE_MS + 400) / 1000, tz=UTC)
    assert stored["timestamp"].microsecond == 123_000  # millisecond precision kept
    assert json.loads(stored["properties"]) == {"plan": "pro", "text": NASTY_TEXT}
    assert stored["flags"] == ["bot", "late"]
    assert stored["revenue"] == pytest.approx(12.34)
    for name in (
        "event",
        "distinct_id",
        "session_id",
        "source_id",
        "lib",
        "lib_version",
        "url",
        "referrer",
        "browser",
        "browser_version",
        "os",
        "os_version",
        "device_type",
        "country",
        "ip",
        "retention_days",
        "project_id",
    ):
        assert stored[name] == row[name], name
    assert stored["inserted_at"].tzinfo is not None


def test_optional_columns_take_their_defaults(store: EventStore) -> None:
    project_id = new_project_id()
    store.insert_events([event_row(project_id)], dedup_token=f"defaults-{project_id}")
    [stored] = _read_back(store, project_id)
    assert stored["sent_at"] is None
    assert stored["revenue"] is None
    assert stored["properties"] == "{}"
    assert stored["flags"] == []
    assert stored["retention_days"] == 365
    assert stored["session_id"] == ""
    assert stored["country"] == ""


@pytest.mark.parametrize(
    "properties",
    [
        "{}",
        json.dumps({"big": "x" * 32 * 1024}),
        json.dumps({"nul": "a\x00b", "controls": "".join(chr(code) for code in range(32))}),
        json.dumps({"unicode": "🙂 שלום مرحبا"}, ensure_ascii=False),
    ],
    ids=["empty", "32KB", "nul-and-controls", "unicode-raw"],
)
def test_properties_round_trip_and_are_readable_with_json_functions(store: EventStore, properties: str) -> None:
    project_id = new_project_id()
    store.insert_events([event_row(project_id, properties=properties)], dedup_token=f"p-{project_id}")
    [stored] = _read_back(store, project_id)
    assert stored["properties"] == properties
    keys = store.query(
        Query(
            name="test.json_keys",
            sql="SELECT JSONExtractKeys(properties) FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id},
        )
    ).scalar()
    assert keys == list(json.loads(properties))


def test_a_32kb_property_value_is_extracted_whole(store: EventStore) -> None:
    project_id = new_project_id()
    value = "é" * 16 * 1024
    store.insert_events([event_row(project_id, properties=json.dumps({"big": value}))], dedup_token=f"b-{project_id}")
    extracted = store.query(
        Query(
            name="test.json_big",
            sql="SELECT JSONExtractString(properties, {key:String}) FROM events WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id, "key": "big"},
        )
    ).scalar()
    assert extracted == value


def test_datetimes_become_exact_epoch_milliseconds() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    batch = events_to_arrow([event_row(1, timestamp=moment, received_at=moment)])
    assert batch.column("timestamp")[0].value == int(moment.timestamp()) * 1000 + 678


def test_a_row_missing_a_required_key_is_refused_before_the_store() -> None:
    row = event_row(1)
    del row["event_id"]
    with pytest.raises(KeyError):
        events_to_arrow([row])


def test_persons_keep_their_latest_version(store: EventStore) -> None:
    project_id = new_project_id()
    person_id = str(uuid.uuid4())
    created = datetime(2026, 1, 1, tzinfo=UTC)

    def version(number: int, properties: str) -> pa.Table:
        return pa.table(
            {
                "project_id": pa.array([project_id], pa.uint64()),
                "person_id": pa.array([person_id]),
                "properties": pa.array([properties]),
                "created_at": pa.array([created], pa.timestamp("ms", tz="UTC")),
                "version": pa.array([number], pa.uint64()),
            }
        )

    store.insert_arrow("persons", version(2, json.dumps({"name": "שלום 🙂"})), dedup_token=f"person-2-{project_id}")
    store.insert_arrow("persons", version(1, "{}"), dedup_token=f"person-1-{project_id}")
    rows = store.query(
        Query(
            name="test.persons",
            sql="SELECT person_id, properties, version, created_at, is_deleted FROM persons FINAL "
            "WHERE project_id = {project_id:UInt64}",
            params={"project_id": project_id},
        )
    ).rows()
    assert rows == [(uuid.UUID(person_id), json.dumps({"name": "שלום 🙂"}), 2, created, 0)]
