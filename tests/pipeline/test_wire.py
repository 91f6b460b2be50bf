"""The events topic's wire format: batch decoding into the store's Arrow schema."""

from __future__ import annotations

import uuid

import orjson

from analytics.ingestion.kafka.wire import control_message, decode_batch, encode_row, message_key
from analytics.warehouse.schema import events_to_arrow
from tests.pipeline.conftest import event_rows


def test_decoded_batch_equals_the_arrow_batch_of_the_same_rows() -> None:
    rows = event_rows(5, 200)
    rows[3]["revenue"] = 12.5
    rows[4]["flags"] = ["clamped"]
    rows[5]["sent_at"] = rows[5]["timestamp"]

    decoded = decode_batch([encode_row(row) for row in rows])

    assert decoded.rejected == []
    assert decoded.indices == list(range(200))
    assert decoded.table.equals(events_to_arrow(rows))


def test_poison_messages_are_singled_out_with_a_reason_and_the_rest_is_kept() -> None:
    good = event_rows(5, 4)
    missing_id = {key: value for key, value in good[0].items() if key != "event_id"}
    bad_uuid = {**good[0], "event_id": "not-a-uuid"}
    values = [
        encode_row(good[0]),
        b"{not json",
        b"",
        orjson.dumps(missing_id),
        b"[1, 2, 3]",
        orjson.dumps(bad_uuid),
        encode_row(good[1]) .replace(b",", b",\n", 1),  # JSON across lines is still an event
        orjson.dumps({**good[2], "properties": {"object": "instead of a JSON string"}}),
        encode_row(good[3]),
    ]

    decoded = decode_batch(values)

    reasons = {item.index: item.reason for item in decoded.rejected}
    assert reasons == {1: "undecodable", 2: "undecodable", 3: "invalid_row", 4: "undecodable", 5: "invalid_row",
                       7: "undecodable"}
    assert decoded.indices == [0, 6, 8]
    assert decoded.table.column("event_id").to_pylist() == [good[0]["event_id"], good[1]["event_id"],
                                                            good[3]["event_id"]]


def test_control_messages_are_recognised_and_not_stored() -> None:
    row = event_rows(5, 1)[0]
    decoded = decode_batch([control_message(), encode_row(row)])
    assert [(item.index, item.reason) for item in decoded.rejected] == [(0, "control")]
    assert decoded.table.num_rows == 1


def test_key_keeps_one_users_events_together() -> None:
    row = {"project_id": 3, "distinct_id": "alice", "event_id": str(uuid.uuid4())}
    assert message_key(row) == b"3:alice"
