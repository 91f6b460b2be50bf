"""The events topic's wire format: batch decoding into the store's Arrow schema."""

from __future__ import annotations

import uuid

import orjson

from analytics.streams.kafka.wire import (
    MAX_MESSAGE_BYTES,
    control_message,
    decode_batch,
    encode_messages,
    encode_row,
    message_key,
)
from analytics.warehouse.schema import events_to_arrow
from tests.streams.conftest import event_rows


def test_decoded_batch_equals_the_arrow_batch_of_the_same_rows() -> None:
    rows = event_rows(5, 200)
    rows[3]["revenue"] = 12.5
    rows[4]["flags"] = ["clamped"]
    rows[5]["sent_at"] = rows[5]["timestamp"]

    decoded = decode_batch([encode_row(row) for row in rows])

    assert decoded.rejected == []
    assert decoded.indices.tolist() == list(range(200))
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
        encode_row(good[1]).replace(b",", b",\n", 1),  # JSON across lines is still an event
        orjson.dumps({**good[2], "properties": {"object": "instead of a JSON string"}}),
        encode_row(good[3]),
    ]

    decoded = decode_batch(values)

    reasons = {item.index: item.reason for item in decoded.rejected}
    assert reasons == {
        1: "undecodable",
        2: "undecodable",
        3: "invalid_row",
        4: "undecodable",
        5: "invalid_row",
        7: "undecodable",
    }
    assert decoded.indices.tolist() == [0, 6, 8]
    assert decoded.table.column("event_id").to_pylist() == [
        good[0]["event_id"],
        good[1]["event_id"],
        good[3]["event_id"],
    ]


def test_control_messages_are_recognised_and_not_stored() -> None:
    row = event_rows(5, 1)[0]
    decoded = decode_batch([control_message(), encode_row(row)])
    assert [(item.index, item.reason) for item in decoded.rejected] == [(0, "control")]
    assert decoded.table.num_rows == 1


def test_key_keeps_one_users_events_together() -> None:
    row = {"project_id": 3, "distinct_id": "alice", "event_id": str(uuid.uuid4())}
    assert message_key(row) == b"3:alice"


def _sessions(project_id: int, users: int, per_user: int) -> list[dict]:
    """Rows of ``users`` users, each user's ``per_user`` rows in a row (as SDK batches come)."""
    rows = event_rows(project_id, users * per_user, users=1)
    for index, row in enumerate(rows):
        row["distinct_id"] = f"user-{index // per_user}"
    return rows


def test_consecutive_rows_of_one_user_share_a_message_and_the_order_is_kept() -> None:
    rows = _sessions(5, 3, 4)
    rows.insert(6, {**rows[0], "event_id": str(uuid.uuid4())})  # user-0 again, inside user-1's run

    messages = encode_messages(rows)

    assert [(key, events) for key, _, events in messages] == [
        (b"5:user-0", 4),
        (b"5:user-1", 2),
        (b"5:user-0", 1),
        (b"5:user-1", 2),
        (b"5:user-2", 4),
    ]
    decoded_order = [orjson.loads(line) for _, value, _ in messages for line in value.split(b"\n")]
    assert decoded_order == rows


def test_a_message_is_cut_before_it_passes_the_size_limit() -> None:
    rows = event_rows(5, 40, users=1)
    for row in rows:
        row["properties"] = orjson.dumps({"padding": "x" * 20_000}).decode()

    messages = encode_messages(rows)

    assert len(messages) > 1
    assert all(len(value) <= MAX_MESSAGE_BYTES for _, value, _ in messages)
    decoded = decode_batch([value for _, value, _ in messages])
    assert decoded.table.column("event_id").to_pylist() == [row["event_id"] for row in rows]


def test_multi_event_messages_decode_with_each_rows_message_and_line() -> None:
    rows = _sessions(5, 3, 4)
    messages = encode_messages(rows)

    decoded = decode_batch([value for _, value, _ in messages])

    assert decoded.rejected == []
    assert decoded.indices.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert decoded.lines.tolist() == [0, 1, 2, 3] * 3
    assert decoded.table.equals(events_to_arrow(rows))
    second = decoded.part(1, 3)
    assert second.indices.tolist() == [0] * 4 + [1] * 4
    assert second.table.column("event_id").to_pylist() == [row["event_id"] for row in rows[4:]]


def test_a_bad_line_is_rejected_alone_and_the_rest_of_its_message_is_kept() -> None:
    good = event_rows(5, 6, users=1)
    missing_id = orjson.dumps({key: value for key, value in good[0].items() if key != "event_id"})
    first = b"\n".join([encode_row(good[0]), b"{not json", encode_row(good[1]), missing_id, encode_row(good[2])])
    windows_endings = encode_row(good[3]) + b"\r\n" + encode_row(good[4]) + b"\r\n\r\n"
    pretty = orjson.dumps(good[5], option=orjson.OPT_INDENT_2)  # one object across lines: one event

    decoded = decode_batch([first, windows_endings, pretty])

    assert [(item.index, item.line, item.reason) for item in decoded.rejected] == [
        (0, 1, "undecodable"),
        (0, 3, "invalid_row"),
    ]
    assert decoded.indices.tolist() == [0, 0, 0, 1, 1, 2]
    assert decoded.lines.tolist() == [0, 2, 4, 0, 1, -1]
    assert decoded.table.column("event_id").to_pylist() == [row["event_id"] for row in good]


def test_blank_messages_and_two_objects_on_one_line_are_rejected_not_miscounted() -> None:
    good = [encode_row(row) for row in event_rows(5, 4, users=1)]
    pretty = orjson.dumps(orjson.loads(good[3]), option=orjson.OPT_INDENT_2)
    # Arrow reads the first value as two rows and the pretty one as one row from many
    # lines: the counts alone would match and map rows to the wrong messages.
    values = [good[0] + b" " + good[1], pretty, b"\n", b" \r\n ", good[2]]

    decoded = decode_batch(values)

    assert [(item.index, item.line, item.reason) for item in decoded.rejected] == [
        (0, 0, "undecodable"),
        (2, None, "undecodable"),
        (3, None, "undecodable"),
    ]
    assert decoded.indices.tolist() == [1, 4]
    assert decoded.table.column("event_id").to_pylist() == [
        orjson.loads(good[3])["event_id"],
        orjson.loads(good[2])["event_id"],
    ]


def test_a_control_line_is_recognised_by_its_own_line() -> None:
    good = event_rows(5, 1)[0]
    missing_id = orjson.dumps({key: value for key, value in good.items() if key != "event_id"})

    decoded = decode_batch([control_message() + b"\n" + missing_id, encode_row(good) + b"\n" + control_message()])

    assert [(item.index, item.line, item.reason) for item in decoded.rejected] == [
        (0, 0, "control"),
        (0, 1, "invalid_row"),
        (1, 1, "control"),
    ]
    assert decoded.table.num_rows == 1
