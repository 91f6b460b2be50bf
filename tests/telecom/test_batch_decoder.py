"""The columnar decoder of the network-actions stream answers exactly as the per-message path.

Every batch is decoded both ways (``decode_network_actions`` and ``decode_per_message``): the
Arrow tables, the rows' origins and the refusals must be identical, and the columnar path
must really have taken the rows it can (its counter), or the equality would prove nothing.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.accounts.selectors import IngestionProject
from analytics.devtools.bench.stages.telecom import actions_table, provider_messages
from analytics.ingestion import metrics
from analytics.ingestion.network_actions import LIB
from analytics.ingestion.network_actions_batch import decode_network_actions, decode_per_message
from analytics.ingestion.schema_checks import CompiledSchema
from analytics.ingestion.services import TELECOM_SCHEMAS
from analytics.ingestion.validation import RequestContext
from analytics.streams.kafka.wire import DecodedBatch
from tests.telecom.conftest import example

PROJECT = IngestionProject(id=41, timezone="UTC", retention_days=3650, ingest_rate_limit=None, keep_full_ip=False)
NOW_MS = int(time.time() * 1000)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def context(schemas: dict[str, CompiledSchema] | None = None) -> Any:
    return RequestContext(project=PROJECT, received_at_ms=NOW_MS, lib=LIB, schemas=schemas or {})


def decoded_by_path() -> dict[str, float]:
    return {
        path: metrics.NETWORK_ACTIONS_DECODED.labels(path=path)._value.get() for path in ("columnar", "per_message")
    }


def decode_both(values: list[bytes], schemas: dict[str, CompiledSchema] | None = None) -> tuple[DecodedBatch, int]:
    """The columnar answer, checked equal to the per-message one; and how many it took in columns."""
    before = decoded_by_path()
    columnar = decode_network_actions(values, context(schemas))
    taken = int(decoded_by_path()["columnar"] - before["columnar"])
    expected = decode_per_message(values, context(schemas))
    assert columnar.table.schema == expected.table.schema
    assert columnar.table.to_pylist() == expected.table.to_pylist()
    assert columnar.table.equals(expected.table)
    assert columnar.indices.tolist() == expected.indices.tolist()
    assert columnar.lines.tolist() == expected.lines.tolist()
    assert columnar.rejected == expected.rejected
    return columnar, taken


# ------------------------------------------------------------------ generated valid batches
def _iso(milliseconds: int, with_millis: bool) -> str:
    moment = EPOCH + timedelta(milliseconds=milliseconds)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{milliseconds % 1000:03d}Z" if with_millis else f"{text}Z"


@st.composite
def valid_action(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA"]))
    # From 1972 (leap days, month ends) to 22 hours ahead: inside the retention, before the
    # clamp of times more than 23 hours ahead (those take the per-message path).
    started = draw(st.integers(NOW_MS - 3600 * 86_400_000, NOW_MS + 22 * 3_600_000))
    time_form = draw(st.sampled_from(["iso", "iso_ms", "epoch_ms"]))
    if time_form != "iso_ms":
        started -= started % 1000 if time_form == "iso" else 0

    def moment(milliseconds: int) -> Any:
        return milliseconds if time_form == "epoch_ms" else _iso(milliseconds, time_form == "iso_ms")

    message: dict[str, Any] = {
        "type": kind,
        "user_id": draw(st.one_of(st.integers(0, 10**15), st.from_regex(r"[ -~]{1,30}", fullmatch=True))),
        "source_id": draw(st.sampled_from(["provider-1", "provider-2", "p 3"])),
        "started_at": moment(started),
    }
    event_id = draw(
        st.one_of(
            st.uuids().map(str),
            st.uuids().map(lambda value: str(value).upper()),
            st.just(""),
            st.none(),
            st.text("abcxyz-0123456789", min_size=1, max_size=20),
            st.integers(1, 10**9),
        )
    )
    if event_id is not None:
        message["event_id"] = event_id
    span = draw(st.integers(0, 7200)) * 1000
    if kind != "SMS_SENT" and kind != "SMS_RECEIVED":
        message["duration_sec"] = draw(st.integers(0, span // 1000 + 2))
        message["ended_at"] = moment(started + span)
    elif draw(st.booleans()):
        message["duration_sec"] = draw(st.sampled_from([0, None]))
    if kind == "DATA" or draw(st.booleans()):
        message["bytes_up"] = draw(st.integers(0, 2**62))
        message["bytes_down"] = draw(st.integers(0, 2**40))
    if draw(st.booleans()):
        message["meta"] = draw(
            st.dictionaries(
                st.text(max_size=8),
                st.one_of(st.text(max_size=20), st.integers(-(2**40), 2**40), st.booleans(), st.none()),
                max_size=4,
            )
        )
    return message


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(valid_action(), min_size=1, max_size=40))
def test_valid_batches_decode_in_columns_to_the_per_message_rows(messages):
    values = [orjson.dumps(message) for message in messages]

    decoded, taken = decode_both(values)

    assert decoded.table.num_rows == len(messages)
    assert taken == len(messages)


def test_the_bench_generators_messages_all_take_the_columns():
    table = actions_table(3000, users=100, project_id=PROJECT.id, seed=5)
    values = [value for _, value, _ in provider_messages(table)]

    decoded, taken = decode_both(values)

    assert taken == decoded.table.num_rows == 3000
    # What the bench stores directly (it leaves the request columns null, not empty).
    names = ["project_id", "event_id", "event", "distinct_id", "person_id", "timestamp", "source_id", "lib"]
    names += ["properties", "flags", "retention_days"]
    assert decoded.table.select(names).equals(table.select(names))


# ------------------------------------------------------------------ refusals among good rows
GOOD = [example(event_id=str(uuid.UUID(int=number, version=4)), user_id=f"u{number}") for number in range(1, 7)]
TOO_OLD = _iso(NOW_MS - 3651 * 86_400_000, False)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (example(type="FAX"), "invalid_type"),
        (example(type=None), "invalid_type"),
        (example(user_id=""), "missing_user_id"),
        (example(user_id=...), "missing_user_id"),
        (example(user_id="x" * 201), "invalid_user_id"),
        (example(user_id="a\u0001b"), "invalid_user_id"),
        (example(user_id=True), "invalid_user_id"),
        (example(user_id=1.5), "invalid_user_id"),
        (example(source_id=None), "missing_source_id"),
        (example(started_at=...), "missing_started_at"),
        (example(started_at=""), "missing_started_at"),
        (example(started_at="yesterday"), "invalid_started_at"),
        (example(started_at="2025-02-30T00:00:00Z"), "invalid_started_at"),
        (example(started_at="2025-10-20T12:34:60Z"), "invalid_started_at"),
        (example(started_at="2025-10-20T24:00:00Z"), "invalid_started_at"),
        (example(started_at=-5), "invalid_started_at"),
        (example(started_at=True), "invalid_started_at"),
        (example(ended_at="1969-12-31T23:59:59Z"), "invalid_ended_at"),
        (example(ended_at="2025-10-20T12:34:55Z"), "ended_before_started"),
        (example(duration_sec=-1), "invalid_duration"),
        (example(duration_sec="127"), "invalid_duration"),
        (example(duration_sec=False), "invalid_duration"),
        (example(duration_sec=1266.001), "inconsistent_duration"),
        (example(duration_sec=1267), "inconsistent_duration"),
        (example(duration_sec=...), "missing_duration"),
        (example(type="SMS_SENT", duration_sec=9), "sms_with_duration"),
        (example(type="DATA", bytes_up=None), "missing_bytes"),
        (example(type="DATA", bytes_down=...), "missing_bytes"),
        (example(bytes_up=-1), "invalid_bytes"),
        (example(bytes_down=1.5), "invalid_bytes"),
        (example(bytes_down="5"), "invalid_bytes"),
        (example(meta=[1]), "invalid_meta"),
        (example(meta="cell"), "invalid_meta"),
        (example(meta={"big": "x" * 5000}), "meta_too_large"),
        (example(started_at=TOO_OLD, ended_at=...), "too_old"),
        ([example()], "invalid_event"),
        (b'{"not json', "undecodable"),
    ],
)
def test_a_refused_row_keeps_its_reason_and_the_batch_keeps_the_rest(bad, reason):
    values = [orjson.dumps(message) for message in GOOD]
    values.insert(3, bad if isinstance(bad, bytes) else orjson.dumps(bad))

    decoded, taken = decode_both(values)

    assert [(item.index, item.reason) for item in decoded.rejected] == [(3, reason)]
    assert decoded.table["event_id"].to_pylist() == [message["event_id"] for message in GOOD]
    assert taken == len(GOOD)


@pytest.mark.parametrize(
    "odd",
    [
        example(duration_sec=127.5),  # floats are written by orjson's own rules
        example(bytes_up=0.0),  # an integral float is stored as an integer
        example(started_at="2025-10-20T14:34:56+02:00", ended_at="2025-10-20 12:56:00"),
        example(started_at=1760963696000.0),
        example(user_id="Zoë"),
        example(event_id=str(uuid.UUID(int=99)).upper()),
        example(started_at=_iso(NOW_MS + 2 * 86_400_000, False), ended_at=...),  # clamped and flagged
        example(duration_sec=1266),  # the tolerance's edge: 1264 s apart plus 2 s
        example(started_at="2024-02-29T23:59:59.999Z", ended_at="2024-03-01T00:00:00Z", duration_sec=0),
        example(meta={"deep": [[[[1]]]], "text": '\u2028"quoted" \\ and \u00e9'}),
        example(extra_field={"ignored": True}),
    ],
)
def test_shapes_the_columns_leave_alone_are_stored_as_the_per_message_path_stores_them(odd):
    values = [orjson.dumps(message) for message in GOOD]
    values.insert(2, orjson.dumps(odd))

    decoded, _ = decode_both(values)

    assert decoded.rejected == []
    assert decoded.table.num_rows == len(GOOD) + 1


def test_values_with_several_lines_and_control_messages_keep_their_origin():
    lines = b"\n".join(orjson.dumps(message) for message in GOOD[:3])
    pretty = orjson.dumps(GOOD[3], option=orjson.OPT_INDENT_2)
    values = [orjson.dumps(GOOD[4]), lines, b'{"__control__":"drain-marker"}', pretty, b"", orjson.dumps(GOOD[5])]

    decoded, taken = decode_both(values)

    assert decoded.indices.tolist() == [0, 1, 1, 1, 3, 5]
    assert decoded.lines.tolist() == [-1, 0, 1, 2, -1, -1]
    assert [(item.index, item.reason) for item in decoded.rejected] == [(2, "control"), (4, "undecodable")]
    assert taken == 3


def test_types_with_a_project_schema_take_the_per_message_path():
    schemas = {name: CompiledSchema.from_spec(name, TELECOM_SCHEMAS[name]) for name in ("CALL_OUT", "CALL_IN")}
    calls = [example(event_id=str(uuid.UUID(int=n, version=4)), type="CALL_IN") for n in range(1, 4)]
    sms = [example(event_id=str(uuid.UUID(int=n, version=4)), type="SMS_SENT", duration_sec=0) for n in range(4, 6)]

    decoded, taken = decode_both([orjson.dumps(message) for message in calls + sms], schemas)

    assert decoded.table.num_rows == 5
    assert taken == len(sms)
