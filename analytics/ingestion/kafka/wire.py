"""The wire format of the events topic: one enriched event row per Kafka message.

- value: ``orjson`` of the row dict (the keys of :data:`analytics.warehouse.schema.EVENT_COLUMNS`,
  times as epoch milliseconds, UUIDs as strings, ``properties`` a JSON string).
- key: ``"{project_id}:{distinct_id}"``, so one user's events land on one partition, in order.
- headers: none for events. Control messages (the drain marker of ``manage.py e2e``) have
  the value ``{"__control__": "<kind>"}`` (and the header :data:`CONTROL_HEADER` for people
  reading the topic); the consumer stores nothing for them and commits past them.

Decoding is done a batch at a time: the values are joined into newline-delimited JSON and
parsed by Arrow's C++ JSON reader straight into the columns the store inserts, so no Python
dict is built per event. A value that cannot be decoded or that breaks the row contract is
singled out (by splitting the batch) and reported with a reason, and the rest goes on.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from analytics.warehouse.schema import ARROW_SCHEMA, EVENT_COLUMNS, REQUIRED_COLUMNS

CONTROL_HEADER = "analytics-control"
CONTROL_PREFIX = b'{"__control__":"'
DRAIN_MARKER = b"drain-marker"
# Dead-letter headers (see analytics/ingestion/streams/dead_letters.py).
REASON_HEADER = "dlq-reason"

_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
# Times travel as integers; the reader parses them as int64 and they are cast afterwards.
_READ_SCHEMA = pa.schema(
    [pa.field(name, pa.int64() if arrow_type == _TIMESTAMP else arrow_type) for name, (_, arrow_type, _) in
     EVENT_COLUMNS.items()]
)
_READ_OPTIONS_BLOCK = 16 << 20
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=_READ_SCHEMA, unexpected_field_behavior="ignore")
_UUID_COLUMNS = ("event_id", "person_id")


def message_key(row: Mapping[str, Any]) -> bytes:
    """The partitioning key: all events of one user of one project share a partition."""
    return f"{row['project_id']}:{row['distinct_id']}".encode()


def encode_row(row: Mapping[str, Any]) -> bytes:
    """The message value of one event row."""
    return orjson.dumps(row)


@dataclass
class Rejected:
    """A message of a batch that can never be stored, and why."""

    index: int
    reason: str
    detail: str = ""


@dataclass
class DecodedBatch:
    """The storable rows of a batch as Arrow, and the messages that were not storable.

    ``indices`` maps each row of ``table`` to the position of its message in the batch.
    """

    table: pa.Table
    indices: list[int]
    rejected: list[Rejected] = field(default_factory=list)

    def part(self, start: int, end: int) -> DecodedBatch:
        """The messages ``start <= index < end`` of this batch, renumbered from 0."""
        low = bisect.bisect_left(self.indices, start)
        high = bisect.bisect_left(self.indices, end)
        return DecodedBatch(
            self.table.slice(low, high - low),
            [index - start for index in self.indices[low:high]],
            [Rejected(item.index - start, item.reason, item.detail) for item in self.rejected
             if start <= item.index < end],
        )


def _parse_ndjson(values: Sequence[bytes], data: bytes | None = None) -> pa.Table:
    if data is None:
        data = b"\n".join(values)
    block_size = _READ_OPTIONS_BLOCK
    if len(data) > block_size:  # a block must hold the longest line
        block_size = max(block_size, max(map(len, values)) + 2)
    table = pa_json.read_json(
        pa.BufferReader(data),
        read_options=pa_json.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=_PARSE_OPTIONS,
    )
    if table.num_rows != len(values):
        raise ValueError(f"{len(values)} messages decoded into {table.num_rows} rows")
    return table


def _parse_or_split(values: list[bytes], offset: int, tables: list[tuple[int, pa.Table]],
                    rejected: list[Rejected], data: bytes | None = None) -> None:
    """Parse ``values``; on failure halve until each undecodable message stands alone."""
    try:
        tables.append((offset, _parse_ndjson(values, data)))
        return
    except (pa.ArrowInvalid, ValueError, OverflowError) as error:
        if len(values) == 1:
            rejected.append(Rejected(offset, "undecodable", _short(error)))
            return
    middle = len(values) // 2
    _parse_or_split(values[:middle], offset, tables, rejected)
    _parse_or_split(values[middle:], offset + middle, tables, rejected)


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _normalise(value: bytes) -> bytes | None:
    """One line of JSON per message: re-encode a value whose JSON spans lines (or None if invalid)."""
    try:
        return orjson.dumps(orjson.loads(value))
    except orjson.JSONDecodeError:
        return None


def decode_batch(values: Sequence[bytes]) -> DecodedBatch:
    """Decode message values into the store's Arrow schema, singling out poison messages.

    Control messages (:func:`is_control`) come back among ``rejected`` with reason
    ``control``; the caller skips them.
    """
    rejected: list[Rejected] = []
    joined = _joined_if_one_line_each(values)
    if joined is not None:
        lines = list(values)
        positions = list(range(len(values)))
    else:
        lines, positions = _split_lines(values, rejected)
    if not lines:
        return DecodedBatch(ARROW_SCHEMA.empty_table(), [], sorted(rejected, key=lambda item: item.index))

    parts: list[tuple[int, pa.Table]] = []
    parse_rejected: list[Rejected] = []
    _parse_or_split(lines, 0, parts, parse_rejected, joined)
    rejected.extend(Rejected(positions[item.index], item.reason, item.detail) for item in parse_rejected)

    tables: list[pa.Table] = []
    indices: list[int] = []
    for start, table in parts:
        valid, table_rejected = _validate(table)
        for row, reason in table_rejected:
            position = positions[start + row]
            if is_control(values[position]):
                rejected.append(Rejected(position, "control"))
            else:
                rejected.append(Rejected(position, "invalid_row", reason))
        if table_rejected:
            table = table.filter(valid)
            kept = [positions[start + row] for row in range(len(valid)) if valid[row].as_py()]
        else:
            kept = positions[start:start + table.num_rows]
        tables.append(table)
        indices.extend(kept)
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    return DecodedBatch(_to_store_schema(table), indices, sorted(rejected, key=lambda item: item.index))


def _joined_if_one_line_each(values: Sequence[bytes]) -> bytes | None:
    """The values joined by newlines, if each is a non-empty single line (checked in C)."""
    if not values or not all(values):
        return None
    data = b"\n".join(values)
    if data.count(b"\n") != len(values) - 1 or b"\r" in data:
        return None
    return data


def _split_lines(values: Sequence[bytes], rejected: list[Rejected]) -> tuple[list[bytes], list[int]]:
    lines: list[bytes] = []
    positions: list[int] = []
    for index, value in enumerate(values):
        if not value:
            rejected.append(Rejected(index, "undecodable", "empty message"))
            continue
        if b"\n" in value or b"\r" in value:
            normalised = _normalise(value)
            if normalised is None:
                rejected.append(Rejected(index, "undecodable", "not JSON"))
                continue
            value = normalised
        lines.append(value)
        positions.append(index)
    return lines, positions


def control_message(kind: bytes = DRAIN_MARKER) -> bytes:
    """The value of a control message (the consumer commits past it and stores nothing)."""
    return CONTROL_PREFIX + kind + b'"}'


def is_control(value: bytes) -> bool:
    return value.startswith(CONTROL_PREFIX)


def _validate(table: pa.Table) -> tuple[pa.Array, list[tuple[int, str]]]:
    """Mask of rows that keep the row contract; the others with the first rule they break."""
    checks: list[tuple[str, pa.Array]] = []
    for name in REQUIRED_COLUMNS:
        checks.append((f"{name} is missing", pc.is_valid(table[name])))
    for name in _UUID_COLUMNS:
        matches = pc.match_substring_regex(table[name], _UUID)
        checks.append((f"{name} is not a UUID", pc.fill_null(matches, False)))
    valid = checks[0][1]
    for _, mask in checks[1:]:
        valid = pc.and_(valid, mask)
    valid = pc.fill_null(valid, False)
    if pc.all(valid).as_py():
        return valid.combine_chunks() if isinstance(valid, pa.ChunkedArray) else valid, []
    failures: list[tuple[int, str]] = []
    flat = [(reason, mask.to_pylist()) for reason, mask in checks]
    for row, ok in enumerate(valid.to_pylist()):
        if not ok:
            reason = next(text for text, mask in flat if not mask[row])
            failures.append((row, reason))
    return valid.combine_chunks() if isinstance(valid, pa.ChunkedArray) else valid, failures


def _to_store_schema(table: pa.Table) -> pa.Table:
    """Fill optional columns with their defaults and cast times to timestamps."""
    columns = []
    rows = table.num_rows
    for name, (_, arrow_type, default) in EVENT_COLUMNS.items():
        column = table[name]
        if arrow_type == _TIMESTAMP:
            column = column.cast(_TIMESTAMP)
        if default is not None and column.null_count:
            # A column absent from every row is common (optional fields) and is built as a
            # constant; fill_null on an all-null column is orders of magnitude slower.
            if column.null_count == rows:
                column = _constant(arrow_type, default, rows)
            else:
                fill = pa.scalar(list(default) if isinstance(default, tuple) else default, type=arrow_type)
                column = pc.fill_null(column, fill)
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=ARROW_SCHEMA)


def _constant(arrow_type: pa.DataType, default: Any, rows: int) -> pa.Array:
    if pa.types.is_list(arrow_type) and not default:
        offsets = pa.array(np.zeros(rows + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, pa.array([], arrow_type.value_type)).cast(arrow_type)
    value = list(default) if isinstance(default, tuple) else default
    return pa.repeat(pa.scalar(value, type=arrow_type), rows)
