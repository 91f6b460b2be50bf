"""Arrow columns become the value lists clickhouse-driver packs (no server needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from analytics.warehouse.transports.native import _column_values, _to_arrow

MOMENT = datetime(2026, 3, 14, 15, 9, 26, 535_000, tzinfo=UTC)
MS = int(datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC).timestamp()) * 1000 + 535


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("DateTime64(3, 'UTC')", MS),
        ("Nullable(DateTime64(3, 'UTC'))", MS),
        ("DateTime64(6, 'UTC')", MS * 1000),
        ("DateTime('UTC')", MS // 1000),
        ("DateTime", MS // 1000),
    ],
)
def test_timestamps_are_sent_as_integers_in_the_columns_precision(target: str, expected: int) -> None:
    column = pa.chunked_array([pa.array([MS, None], pa.timestamp("ms", tz="UTC"))])
    assert _column_values(column, target) == [expected, None]


def test_without_a_known_target_type_values_stay_python_objects() -> None:
    column = pa.chunked_array([pa.array([MS], pa.timestamp("ms", tz="UTC"))])
    assert _column_values(column, None) == [MOMENT]


def test_results_get_the_arrow_types_chdb_gives() -> None:
    value = uuid.uuid4()
    table = _to_arrow(
        [
            ("id", "UUID"),
            ("n", "Nullable(UInt64)"),
            ("t", "DateTime64(3, 'UTC')"),
            ("tags", "Array(String)"),
            ("name", "LowCardinality(String)"),
            ("id", "UUID"),
        ],
        [[value], [None], [MOMENT], [["a"]], ["x"], [value]],
    )
    assert table.schema.types == [
        pa.uuid(),
        pa.uint64(),
        pa.timestamp("ms", tz="UTC"),
        pa.list_(pa.string()),
        pa.string(),
        pa.uuid(),
    ]
    assert table.to_pylist()[0]["n"] is None
    assert table.column(0).to_pylist() == [value]
    assert _to_arrow([("x", "UInt8")], []).num_rows == 0
