"""Query parameters of every type we use, through each encoding, on chDB.

chDB runs the server-side parameters (``params=``) and also the client-side rendering
used for servers without parameters, so both encodings are checked here against a
current ClickHouse; they must give the same values.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from analytics.warehouse.errors import StoreQueryError
from analytics.warehouse.params import driver_param_value, render_client_side
from analytics.warehouse.store import EventStore

NASTY = "a'b\\c\"d`e\n\t\r\x00\x01\x1b\x7f 🙂 שלום {x:String} %s %(x)s"
MOMENT = datetime(2026, 3, 14, 15, 9, 26, 535_000, tzinfo=UTC)
UUID_VALUE = uuid.UUID("0190a5b0-1234-7000-8000-00000000abcd")

CASES = [
    ("UInt64", 18_446_744_073_709_551_615, 18_446_744_073_709_551_615),
    ("UInt16", 365, 365),
    ("Int64", -42, -42),
    ("Float64", 1.25, 1.25),
    ("String", NASTY, NASTY),
    ("String", "", ""),
    ("UUID", UUID_VALUE, UUID_VALUE),
    ("UUID", str(UUID_VALUE), UUID_VALUE),
    ("DateTime64(3, 'UTC')", MOMENT, MOMENT),
    ("DateTime64(3, 'UTC')", datetime(2026, 3, 14, 15, 9, 26, 535_000), MOMENT),  # noqa: DTZ001 - naive = UTC
    ("Date", date(2026, 3, 14), date(2026, 3, 14)),
    ("Array(String)", ["a", NASTY, ""], ["a", NASTY, ""]),
    ("Array(UInt64)", [1, 2, 3], [1, 2, 3]),
    ("Array(UUID)", [UUID_VALUE], [UUID_VALUE]),
    ("Array(String)", [], []),
    ("UInt8", True, 1),
]
IDS = [f"{type_name}-{index}" for index, (type_name, _, _) in enumerate(CASES)]


def _select(store: EventStore, sql: str, params: dict[str, object]) -> object:
    return store.query_unscoped_admin("test.param", sql, params).scalar()


@pytest.mark.parametrize(("type_name", "value", "expected"), CASES, ids=IDS)
def test_server_side_parameter_round_trips(store: EventStore, type_name: str, value: object, expected: object) -> None:
    assert _select(store, f"SELECT {{v:{type_name}}}", {"v": value}) == expected


@pytest.mark.parametrize(("type_name", "value", "expected"), CASES, ids=IDS)
def test_client_side_rendering_gives_the_same_value(
    store: EventStore, type_name: str, value: object, expected: object
) -> None:
    sql = render_client_side(f"SELECT {{v:{type_name}}}", {"v": value})
    assert "{v:" not in sql
    assert _select(store, sql, {}) == expected


def test_client_side_rendering_is_one_pass_so_values_are_never_placeholders(store: EventStore) -> None:
    sql = render_client_side("SELECT {a:String}, {b:String}", {"a": "{b:String}", "b": "x"})
    result = store.query_unscoped_admin("test.render", sql).rows()
    assert result == [("{b:String}", "x")]


def test_client_side_rendering_refuses_a_negative_number_for_an_unsigned_type(store: EventStore) -> None:
    sql = render_client_side("SELECT {v:UInt64}", {"v": -1})
    with pytest.raises(StoreQueryError):
        _select(store, sql, {})


def test_client_side_rendering_needs_every_parameter() -> None:
    with pytest.raises(StoreQueryError, match="not given"):
        render_client_side("SELECT {v:UInt64}", {})


def test_a_type_with_sql_in_it_is_refused() -> None:
    with pytest.raises(StoreQueryError, match="unexpected parameter type"):
        render_client_side("SELECT {v:String) FROM system.one; DROP TABLE x; --}", {"v": "a"})


@pytest.mark.parametrize("value", [None, {"a": 1}, object(), "\ud800"], ids=["none", "dict", "object", "surrogate"])
def test_values_that_have_no_single_encoding_are_refused(value: object) -> None:
    with pytest.raises(StoreQueryError):
        driver_param_value(value, name="v")


def test_driver_values_are_what_the_driver_escapes_as_text() -> None:
    assert driver_param_value(MOMENT) == "2026-03-14 15:09:26.535"
    assert driver_param_value(UUID_VALUE) == str(UUID_VALUE)
    assert driver_param_value([UUID_VALUE, "x"]) == [str(UUID_VALUE), "x"]
    assert driver_param_value(True) == 1
