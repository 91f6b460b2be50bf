"""The wire format of the events topic: one user's enriched event rows per Kafka message.

- value: one line per event, each the ``orjson`` of the row dict (the keys of
  :data:`analytics.warehouse.schema.EVENT_COLUMNS`, times as epoch milliseconds, UUIDs as
  strings, ``properties`` a JSON string). The producer puts consecutive events of one request
  that share a key into one message (:func:`encode_messages`); a value of one line is one event,
  so messages written by hand or by older producers read the same way.
- key: ``"{project_id}:{distinct_id}"``, so one user's events land on one partition, in order.
- headers: none for events. Control messages (the drain marker of ``manage.py e2e``) have
  the value ``{"__control__": "<kind>"}`` (and the header :data:`CONTROL_HEADER` for people
  reading the topic); the consumer stores nothing for them and commits past them.

Decoding is done a batch at a time: the values are joined into newline-delimited JSON and
parsed by Arrow's C++ JSON reader straight into the columns the store inserts, so no Python
dict is built per event. A line that cannot be decoded or that breaks the row contract is
singled out (by splitting the batch) and reported with its message, line and reason, and
the rest goes on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
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
# Dead-letter headers (see analytics/streams/dead_letters.py).
REASON_HEADER = "dlq-reason"

_UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
# Times travel as integers; the reader parses them as int64 and they are cast afterwards.
_READ_SCHEMA = pa.schema(
    [
        pa.field(name, pa.int64() if arrow_type == _TIMESTAMP else arrow_type)
        for name, (_, arrow_type, _) in EVENT_COLUMNS.items()
    ]
)
_READ_OPTIONS_BLOCK = 16 << 20
_PARSE_OPTIONS = pa_json.ParseOptions(explicit_schema=_READ_SCHEMA, unexpected_field_behavior="ignore")
_UUID_COLUMNS = ("event_id", "person_id")
# Well under librdkafka's message.max.bytes (1 MB); an event is at most INGEST_MAX_EVENT_BYTES.
MAX_MESSAGE_BYTES = 256 * 1024


def message_key(row: Mapping[str, Any]) -> bytes:
    """The partitioning key: all events of one user of one project share a partition."""
    return f"{row['project_id']}:{row['distinct_id']}".encode()


def encode_row(row: Mapping[str, Any]) -> bytes:
    """One event row as one line of JSON (a message value of one event)."""
    return orjson.dumps(row)


def encode_messages(rows: Sequence[Mapping[str, Any]]) -> list[tuple[bytes, bytes, int]]:
    """The messages that carry ``rows``: ``(key, value, events)``.

    Consecutive rows that share a key (project and distinct id) share a message, its value
    their lines of JSON, so the messages keep the rows' order exactly (a request's events
    of different users keep their order within a partition too: person updates depend on
    it). A message is cut before it passes :data:`MAX_MESSAGE_BYTES`. Why: the consumer
    pays a fixed cost per message (``Message`` objects, the poll loop, librdkafka) on top
    of its per-event cost, and an SDK's batch is usually one user's events in a row.
    """
    messages: list[tuple[bytes, bytes, int]] = []
    run_key = b""  # the key of the rows in ``run`` (read only while it has some)
    run: list[bytes] = []
    size = 0
    for row in rows:
        key = message_key(row)
        line = orjson.dumps(row)
        if key != run_key or size + len(line) > MAX_MESSAGE_BYTES:
            if run:
                messages.append((run_key, b"\n".join(run), len(run)))
            run_key, run, size = key, [], 0
        run.append(line)
        size += len(line) + 1
    if run:
        messages.append((run_key, b"\n".join(run), len(run)))
    return messages


@dataclass
class Rejected:
    """An event of a batch that can never be stored, and why.

    ``index`` is its message's position in the batch; ``line`` its line in the message's
    value (``value.split(b"\\n")[line]``), or None when the whole value is the event (a
    JSON object written across lines, or a message rejected as a whole).
    """

    index: int
    reason: str
    detail: str = ""
    line: int | None = 0


@dataclass
class DecodedBatch:
    """The storable rows of a batch as Arrow, and the events that were not storable.

    ``indices[i]`` is the position in the batch of the message that carried row ``i`` of
    ``table``, and ``lines[i]`` its line in that message (-1: the whole value).
    """

    table: pa.Table
    indices: np.ndarray
    lines: np.ndarray
    rejected: list[Rejected] = field(default_factory=list)

    def part(self, start: int, end: int) -> DecodedBatch:
        """The messages ``start <= index < end`` of this batch, renumbered from 0."""
        low, high = np.searchsorted(self.indices, (start, end))
        return DecodedBatch(
            self.table.slice(low, high - low),
            self.indices[low:high] - start,
            self.lines[low:high],
            [
                Rejected(item.index - start, item.reason, item.detail, item.line)
                for item in self.rejected
                if start <= item.index < end
            ],
        )

    def line_of(self, row: int) -> int | None:
        return _line_or_none(int(self.lines[row]))


def _parse_ndjson(lines: Sequence[bytes], data: bytes | None = None, rows: int | None = None) -> pa.Table:
    if data is None:
        data = b"\n".join(lines)
        rows = len(lines)
    block_size = _READ_OPTIONS_BLOCK
    if len(data) > block_size:  # a block must hold the longest line (a value is at least as long)
        block_size = max(block_size, max(map(len, lines)) + 2)
    table = pa_json.read_json(
        pa.BufferReader(data),
        read_options=pa_json.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=_PARSE_OPTIONS,
    )
    if table.num_rows != rows:
        raise ValueError(f"{rows} lines decoded into {table.num_rows} rows")
    return table


def _parse_or_split(
    lines: list[bytes], offset: int, tables: list[tuple[int, pa.Table]], failures: list[tuple[int, str]]
) -> None:
    """Parse ``lines``; on failure halve until each undecodable line stands alone."""
    try:
        tables.append((offset, _parse_ndjson(lines)))
        return
    except (pa.ArrowInvalid, ValueError, OverflowError) as error:
        if len(lines) == 1:
            failures.append((offset, _short(error)))
            return
    middle = len(lines) // 2
    _parse_or_split(lines[:middle], offset, tables, failures)
    _parse_or_split(lines[middle:], offset + middle, tables, failures)


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]


def _whole_value(value: bytes) -> bytes | None:
    """A value that is one JSON object written across lines, as one line (else None)."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return orjson.dumps(parsed)


def decode_batch(values: Sequence[bytes]) -> DecodedBatch:
    """Decode message values into the store's Arrow schema, singling out poison events.

    A value holds one event per line (:func:`encode_messages`). The fast path parses all
    values joined by newlines in one call to Arrow's reader; a batch with anything odd in
    it (empty values or lines, carriage returns, a line Arrow cannot read) takes the slow
    path, which splits every value into its lines so that one bad line is rejected alone.
    Control messages (:func:`is_control`) come back among ``rejected`` with reason
    ``control``; the caller skips them.
    """
    fast = _fast_path(values)
    if fast is not None:
        return fast
    rejected: list[Rejected] = []
    lines, positions, line_numbers = _split_lines(values, rejected)
    if not lines:
        return _finish([], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), values, rejected)
    parts: list[tuple[int, pa.Table]] = []
    failures: list[tuple[int, str]] = []
    _parse_or_split(lines, 0, parts, failures)
    rejected.extend(
        Rejected(positions[line], "undecodable", detail, _line_or_none(line_numbers[line])) for line, detail in failures
    )
    # Only the lines that parsed keep their place, in order.
    parsed = (
        np.concatenate([np.arange(start, start + table.num_rows, dtype=np.int64) for start, table in parts])
        if parts
        else np.zeros(0, dtype=np.int64)
    )
    return _finish(
        [table for _, table in parts],
        np.asarray(positions, dtype=np.int64)[parsed],
        np.asarray(line_numbers, dtype=np.int64)[parsed],
        values,
        rejected,
    )


def _fast_path(values: Sequence[bytes]) -> DecodedBatch | None:
    """Decode the batch in one Arrow call if every line parses (else None: take the slow path)."""
    if not values or not all(values):
        return None
    data = b"\n".join(values)
    # Checked in C: no carriage return, and every line starts an object. Arrow skips blank
    # lines and reads an object written across lines as one row, and either could cancel
    # out a line that holds two objects, leaving the row count right and the rows'
    # messages wrong; with every line starting with "{", only the latter remains, and the
    # row count check below catches it.
    newlines = data.count(b"\n")
    if b"\r" in data or not data.startswith(b"{") or data.count(b"\n{") != newlines:
        return None
    count = len(values)
    if newlines == count - 1:  # one event per message
        indices = np.arange(count, dtype=np.int64)
        lines = np.zeros(count, dtype=np.int64)
    else:
        per_value = np.fromiter(map(bytes.count, values, repeat(b"\n", count)), dtype=np.int64, count=count) + 1
        indices = np.repeat(np.arange(count, dtype=np.int64), per_value)
        starts = np.cumsum(per_value) - per_value
        lines = np.arange(indices.size, dtype=np.int64) - starts[indices]
    try:
        table = _parse_ndjson(values, data, rows=newlines + 1)
    except (pa.ArrowInvalid, ValueError, OverflowError):
        return None
    return _finish([table], indices, lines, values, [])


def _finish(
    tables: list[pa.Table], indices: np.ndarray, lines: np.ndarray, values: Sequence[bytes], rejected: list[Rejected]
) -> DecodedBatch:
    """Check the row contract of the parsed rows (``indices``/``lines`` give each row's origin)."""
    if not tables:
        return DecodedBatch(ARROW_SCHEMA.empty_table(), indices, lines, _ordered(rejected))
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    valid, failures = _validate(table)
    if failures:
        for row, reason in failures:
            position, line = int(indices[row]), _line_or_none(int(lines[row]))
            if is_control(line_text(values[position], line)):
                rejected.append(Rejected(position, "control", "", line))
            else:
                rejected.append(Rejected(position, "invalid_row", reason, line))
        mask = valid.to_numpy(zero_copy_only=False)
        table, indices, lines = table.filter(valid), indices[mask], lines[mask]
    return DecodedBatch(_to_store_schema(table), indices, lines, _ordered(rejected))


def _ordered(rejected: list[Rejected]) -> list[Rejected]:
    return sorted(rejected, key=lambda item: (item.index, item.line or 0))


def _line_or_none(line: int) -> int | None:
    return None if line < 0 else line


def _split_lines(values: Sequence[bytes], rejected: list[Rejected]) -> tuple[list[bytes], list[int], list[int]]:
    """Every event line of the batch, its message's position and its line in the message (-1: whole value)."""
    lines: list[bytes] = []
    positions: list[int] = []
    line_numbers: list[int] = []
    for index, value in enumerate(values):
        if not value:
            rejected.append(Rejected(index, "undecodable", "empty message", None))
            continue
        if b"\n" not in value and b"\r" not in value:
            lines.append(value)
            positions.append(index)
            line_numbers.append(0)
            continue
        whole = _whole_value(value)
        if whole is not None:  # one JSON document written across lines
            lines.append(whole)
            positions.append(index)
            line_numbers.append(-1)
            continue
        found = False
        for number, line in enumerate(value.split(b"\n")):
            line = line.strip(b"\r")
            if line.strip():
                lines.append(line)
                positions.append(index)
                line_numbers.append(number)
                found = True
        if not found:
            rejected.append(Rejected(index, "undecodable", "no event in the message (blank lines only)", None))
    return lines, positions, line_numbers


def line_text(value: bytes, line: int | None) -> bytes:
    """Line ``line`` of a message value (the whole value for None or a one-line value)."""
    if line is None or b"\n" not in value:
        return value
    return value.split(b"\n")[line].strip(b"\r")


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
