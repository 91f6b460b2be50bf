"""Columnar decoding of a Kafka batch of provider messages (``network_actions.py``'s shape).

The per-message path (:func:`decode_per_message`: ``network_action_row`` for each message,
then one Arrow conversion) costs tens of microseconds of Python per action, several times
the native stream's Arrow decode. :func:`decode_network_actions` parses each value with the
same parser (orjson), then validates every rule of ``network_actions.py`` on whole columns
(Arrow compute and numpy) and builds the Arrow rows directly: the same columns, the same
property JSON text, the same times and the same event identity.

The fast path only takes what it can decide exactly. Everything else goes through the
per-message path, so every refusal keeps its reason code and dead letter, and the fast path
never stores a row the per-message path would not store, or stores it differently:

- values that are not one JSON object (several lines, broken JSON, arrays), control messages;
- any row that breaks a rule, whichever (the per-message path finds the reason);
- shapes the columns do not handle: times that are neither ``YYYY-MM-DDTHH:MM:SS[.fff]Z``
  nor epoch-ms integers, non-integer numbers, ids outside printable ASCII (numbers are
  taken), a client ``event_id`` that is not a lowercase canonical UUID, an event type the
  project has a schema for, times the skew correction would clamp or the retention refuse;
- a context other than the stream's (a user agent, another lib, the unicode check).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from analytics.ingestion import metrics
from analytics.ingestion.enrichment import FUTURE_LIMIT_MS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS
from analytics.ingestion.network_actions import (
    CALL_TYPES,
    DURATION_TOLERANCE_SEC,
    LIB,
    MAX_META_BYTES,
    NETWORK_ACTION_TYPES,
    SMS_TYPES,
    network_action_row,
)
from analytics.ingestion.validation import MAX_NAME_LENGTH, EventRejected, RequestContext, check_name
from analytics.streams.kafka.wire import DecodedBatch, Rejected, is_control
from analytics.streams.sink import rows_to_arrow
from analytics.warehouse.identity import event_id_from_client, event_id_from_content, person_id_for
from analytics.warehouse.schema import ARROW_SCHEMA

_DAY_MS = 86_400_000
_TIMESTAMP = pa.timestamp("ms", tz="UTC")
_TYPES = pa.array(NETWORK_ACTION_TYPES, pa.string())
# Texts are checked on their bytes with numpy: Arrow's regex and strftime kernels cost
# microseconds per value, the per-message path's own order of magnitude.
# ``YYYY-MM-DDTHH:MM:SS.fffZ``: where the digits are, and the other characters.
_TIME_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_TIME_MARKS = {4: ord("-"), 7: ord("-"), 10: ord("T"), 13: ord(":"), 16: ord(":")}
_UUID_HYPHENS = np.array([8, 13, 18, 23])
_UUID_HEX = np.setdiff1d(np.arange(36), _UUID_HYPHENS)
# orjson refuses to write more than 255 levels of nesting; a meta with this many containers
# could reach it inside the properties, which the per-message path then refuses.
_META_CONTAINERS = 200
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


# ------------------------------------------------------------------ the per-message path
def _values(value: bytes) -> list[tuple[Any, int]]:
    """The messages carried by one Kafka value and their line numbers (-1: the whole value)."""
    try:
        return [(orjson.loads(value), -1)]
    except orjson.JSONDecodeError:
        if b"\n" not in value:
            raise
    out = []
    for line, text in enumerate(value.split(b"\n")):
        if text.strip():
            out.append((orjson.loads(text), line))
    return out


class _Rows:
    """Rows built one message at a time, with their origin and the refused messages."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.indices: list[int] = []
        self.lines: list[int] = []
        self.rejected: list[Rejected] = []

    def add(self, context: RequestContext, index: int, item: Any, line: int) -> None:
        try:
            self.rows.append(network_action_row(context, item))
        except EventRejected as error:
            self.rejected.append(Rejected(index, error.reason, error.message, None if line < 0 else line))
            return
        self.indices.append(index)
        self.lines.append(line)

    def add_value(self, context: RequestContext, index: int, value: bytes) -> None:
        if is_control(value):
            self.rejected.append(Rejected(index, "control"))
            return
        try:
            items = _values(value)
        except orjson.JSONDecodeError as error:
            self.rejected.append(Rejected(index, "undecodable", str(error)[:300], None))
            return
        for item, line in items:
            self.add(context, index, item, line)

    def table(self) -> pa.Table:
        return rows_to_arrow(self.rows) if self.rows else ARROW_SCHEMA.empty_table()


def decode_per_message(values: Sequence[bytes], context: RequestContext) -> DecodedBatch:
    """Each message validated and mapped on its own (``network_action_row``), then one Arrow batch."""
    slow = _Rows()
    for index, value in enumerate(values):
        slow.add_value(context, index, value)
    return DecodedBatch(
        slow.table(), np.array(slow.indices, dtype=np.int64), np.array(slow.lines, dtype=np.int64), slow.rejected
    )


# ------------------------------------------------------------------ columns of Python values
class _Column:
    """One field of the candidate messages, split by JSON type.

    ``texts`` holds the strings (null elsewhere), ``numbers`` the integers within int64, and
    ``odd`` marks any other value (floats, booleans, objects, huge integers).
    """

    def __init__(self, values: list[Any]) -> None:
        count = len(values)
        self.present = values.count(None) < count
        self.texts: pa.Array = pa.nulls(count, pa.string())
        self.numbers: pa.Array = pa.nulls(count, pa.int64())
        self.odd: np.ndarray | None = None
        if not self.present:
            return
        try:
            inferred = pa.array(values)  # one C pass when the column holds one type
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            inferred = None
        if inferred is not None and inferred.type == pa.string():
            self.texts = inferred
        elif inferred is not None and inferred.type == pa.int64():
            self.numbers = inferred
        else:
            self._split(values)

    def _split(self, values: list[Any]) -> None:
        texts: list[str | None] = []
        numbers: list[int | None] = []
        odd = np.zeros(len(values), dtype=bool)
        for position, value in enumerate(values):
            kind = type(value)
            texts.append(value if kind is str else None)
            if kind is int and -(2**63) <= value < 2**63:
                numbers.append(value)
            else:
                numbers.append(None)
                odd[position] = value is not None and kind is not str
        self.texts = pa.array(texts, pa.string())
        self.numbers = pa.array(numbers, pa.int64())
        self.odd = odd

    def absent(self) -> np.ndarray:
        """Null in the message (or the key missing)."""
        nulls = pc.and_(self.texts.is_null(), self.numbers.is_null()).to_numpy(zero_copy_only=False)
        return nulls if self.odd is None else nulls & ~self.odd

    def fine(self) -> np.ndarray:
        return np.ones(len(self.texts), dtype=bool) if self.odd is None else ~self.odd


def _mask(array: Any) -> np.ndarray:
    """A boolean Arrow result as numpy, null counting as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _names(column: _Column) -> tuple[pa.Array, np.ndarray]:
    """A required id as text (integers in decimal, as ``check_name`` takes them) and where it is usable."""
    texts = column.texts
    if column.numbers.null_count < len(column.numbers):
        texts = pc.coalesce(texts, pc.cast(column.numbers, pa.string()))
    return texts, _printable_names(texts) & column.fine()


def _non_negative(column: _Column) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An optional integer: its values (0 where absent), where present, and where usable."""
    numbers = column.numbers.fill_null(0).to_numpy()
    # A string is no number (the per-message path refuses it), nor are floats or booleans.
    usable = column.fine() & column.texts.is_null().to_numpy(zero_copy_only=False) & (numbers >= 0)
    return numbers, ~column.absent(), usable


def _utc_ms(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Epoch ms of ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` texts and where they are a real time.

    Checked field by field as ``datetime.fromisoformat`` does (no February 30, no second 60).
    """
    chars, lengths = _fixed_width(texts, 24)
    short, long = lengths == 20, lengths == 24
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    valid = (short | long) & digit[:, _TIME_DIGITS].all(axis=1)
    for position, mark in _TIME_MARKS.items():
        valid &= chars[:, position] == mark
    valid &= (short & (chars[:, 19] == ord("Z"))) | (
        long & (chars[:, 19] == ord(".")) & digit[:, 20:23].all(axis=1) & (chars[:, 23] == ord("Z"))
    )
    values = chars.astype(np.int64) - ord("0")

    def number(start: int, stop: int) -> np.ndarray:
        out = np.zeros(len(values), dtype=np.int64)
        for position in range(start, stop):
            out = out * 10 + values[:, position]
        return out

    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    hour, minute, second = number(11, 13), number(14, 16), number(17, 19)
    millis = np.where(long, number(20, 23), 0)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_index = np.clip(month, 0, 12)
    days_in_month = _DAYS_IN_MONTH[month_index] + ((month_index == 2) & leap)
    valid &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month)
    valid &= (hour <= 23) & (minute <= 59) & (second <= 59)
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    shifted = year - (month <= 2)
    era = np.floor_divide(shifted, 400)
    year_of_era = shifted - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    days = era * 146_097 + day_of_era - 719_468
    milliseconds = days * _DAY_MS + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
    return np.where(valid, milliseconds, 0), valid


def _moments(column: _Column) -> tuple[np.ndarray, np.ndarray]:
    """Epoch ms of a time (UTC text or epoch-ms integer) and where it is usable."""
    text_ms, text_ok = _utc_ms(column.texts)
    has_number = column.numbers.is_valid().to_numpy(zero_copy_only=False)
    milliseconds = np.where(has_number, column.numbers.fill_null(0).to_numpy(), text_ms)
    usable = (text_ok | has_number) & column.fine()
    usable &= (milliseconds >= MIN_TIMESTAMP_MS) & (milliseconds <= MAX_TIMESTAMP_MS)
    return milliseconds, usable


def _iso_texts(milliseconds: np.ndarray) -> pa.Array:
    """The stored ISO-8601 text of each time (``YYYY-MM-DDTHH:MM:SS.fffZ``, as ``_iso`` writes it)."""
    days, rest = np.divmod(milliseconds, _DAY_MS)
    # The proleptic Gregorian date of a day number (H. Hinnant's civil_from_days).
    shifted = days + 719_468
    era = np.floor_divide(shifted, 146_097)
    day_of_era = shifted - era * 146_097
    year_of_era = (day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_part = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_part + 2) // 5 + 1
    month = month_part + np.where(month_part < 10, 3, -9)
    year = year_of_era + era * 400 + (month <= 2)
    seconds, millis = np.divmod(rest, 1000)
    count = len(milliseconds)
    chars = np.zeros((count, 24), dtype=np.uint8)
    for start, width, value in (
        (0, 4, year),
        (5, 2, month),
        (8, 2, day),
        (11, 2, seconds // 3600),
        (14, 2, seconds // 60 % 60),
        (17, 2, seconds % 60),
        (20, 3, millis),
    ):
        for position in range(start + width - 1, start - 1, -1):
            chars[:, position] = value % 10 + ord("0")
            value = value // 10
    for position, mark in {**_TIME_MARKS, 19: ord("."), 23: ord("Z")}.items():
        chars[:, position] = mark
    offsets = np.arange(0, 24 * (count + 1), 24, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def _string_bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A string array's value offsets and bytes (numpy views), and where it is not null."""
    if texts.type != pa.string():
        texts = texts.cast(pa.string())
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, dtype=np.uint8)
    return offsets.astype(np.int64), data, texts.is_valid().to_numpy(zero_copy_only=False)


def _fixed_width(texts: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``width`` bytes of each text as a matrix (zero past its end) and the byte lengths."""
    offsets, data, valid = _string_bytes(texts)
    lengths = np.where(valid, np.diff(offsets), -1)
    if data.size == 0:
        return np.zeros((len(lengths), width), dtype=np.uint8), lengths
    index = offsets[:-1, None] + np.arange(width)
    chars = data[np.minimum(index, data.size - 1)]
    chars[np.arange(width) >= np.maximum(lengths, 0)[:, None]] = 0
    return chars, lengths


def _printable_names(texts: pa.Array) -> np.ndarray:
    """Texts of 1 to 200 printable ASCII characters (what ``str.isprintable`` takes among them)."""
    offsets, data, valid = _string_bytes(texts)
    outside = np.concatenate([[0], np.cumsum((data < 0x20) | (data > 0x7E))])
    lengths = np.diff(offsets)
    return valid & (lengths >= 1) & (lengths <= MAX_NAME_LENGTH) & (outside[offsets[1:]] == outside[offsets[:-1]])


def _canonical_uuids(texts: pa.Array) -> np.ndarray:
    """Lowercase canonical UUID texts (what ``event_id_from_client`` keeps as they are)."""
    chars, lengths = _fixed_width(texts, 36)
    hexes = chars[:, _UUID_HEX]
    is_hex = ((hexes >= ord("0")) & (hexes <= ord("9"))) | ((hexes >= ord("a")) & (hexes <= ord("f")))
    return (lengths == 36) & is_hex.all(axis=1) & (chars[:, _UUID_HYPHENS] == ord("-")).all(axis=1)


def _metas(values: list[Any]) -> tuple[list[bytes | None], np.ndarray]:
    """The JSON of each ``meta`` object (None where absent) and where it is usable."""
    texts: list[bytes | None] = [None] * len(values)
    usable = np.ones(len(values), dtype=bool)
    if values.count(None) == len(values):
        return texts, usable
    for position, value in enumerate(values):
        if value is None:
            continue
        if type(value) is not dict:
            usable[position] = False
            continue
        try:
            text = orjson.dumps(value)
        except (orjson.JSONEncodeError, TypeError):
            usable[position] = False
            continue
        if len(text) > MAX_META_BYTES or text.count(b"{") + text.count(b"[") > _META_CONTAINERS:
            usable[position] = False
        texts[position] = text
    return texts, usable


def _field(name: str, text: pa.Array, present: np.ndarray, quoted: bool = False) -> pa.Array:
    """``,"name":value`` where present, null elsewhere (the join below skips nulls)."""
    quote = '"' if quoted else ""
    joined = pc.binary_join_element_wise(f',"{name}":{quote}', text, quote, "")
    return pc.if_else(pa.array(present), joined, pa.scalar(None, pa.string()))


# ------------------------------------------------------------------ the columnar path
def _decide(context: RequestContext, items: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, Any]]:
    """Which candidates the columns can store exactly, and their columns."""

    def field(name: str) -> list[Any]:
        return [item.get(name) for item in items]

    kind = _Column(field("type"))
    ok = _mask(pc.is_in(kind.texts, value_set=_TYPES))
    if context.schemas:
        ok &= ~_mask(pc.is_in(kind.texts, value_set=pa.array(sorted(context.schemas), pa.string())))
    user_texts, user_ok = _names(_Column(field("user_id")))
    source_texts, source_ok = _names(_Column(field("source_id")))
    ok &= user_ok & source_ok

    duration, has_duration, duration_ok = _non_negative(_Column(field("duration_sec")))
    up, has_up, up_ok = _non_negative(_Column(field("bytes_up")))
    down, has_down, down_ok = _non_negative(_Column(field("bytes_down")))
    ok &= duration_ok & up_ok & down_ok
    metas, meta_ok = _metas(field("meta"))
    ok &= meta_ok

    started_column = _Column([None if value == "" else value for value in field("started_at")])
    started, started_ok = _moments(started_column)
    ok &= started_ok & ~started_column.absent()
    ended_column = _Column([None if value == "" else value for value in field("ended_at")])
    ended, ended_ok = _moments(ended_column)
    has_ended = ~ended_column.absent()
    ok &= ended_ok | ~has_ended
    # The rules of network_actions.py: _check_times, then _check_kind.
    span = (ended - started) / 1000
    ok &= ~has_ended | ((ended >= started) & ~(has_duration & (duration > span + DURATION_TOLERANCE_SEC)))
    kinds = kind.texts
    is_call = _mask(pc.is_in(kinds, value_set=pa.array(sorted(CALL_TYPES))))
    is_sms = _mask(pc.is_in(kinds, value_set=pa.array(sorted(SMS_TYPES))))
    is_data = _mask(pc.equal(kinds, "DATA"))
    ok &= ~(is_call & ~has_duration) & ~(is_sms & has_duration & (duration != 0)) & ~(is_data & ~(has_up & has_down))
    # build_row: skew correction (none on a stream) clamps times from the far future, and the
    # store's TTL would drop times older than the retention; both take the per-message path.
    ok &= started <= context.received_at_ms + FUTURE_LIMIT_MS
    ok &= started >= context.received_at_ms - context.project.retention_days * _DAY_MS
    columns = {
        "kind": kinds,
        "user": user_texts,
        "source": source_texts,
        "started": started,
        "ended": (ended, has_ended),
        "numbers": ((duration, has_duration), (up, has_up), (down, has_down)),
        "metas": metas,
    }
    return ok, columns


def _properties(columns: dict[str, Any], rows: np.ndarray) -> pa.Array:
    """The property JSON text of the taken rows, byte for byte what orjson writes of the dict."""
    ended, has_ended = columns["ended"]
    parts = [_iso_texts(columns["started"][rows])]
    parts.append(_field("ended_at", _iso_texts(ended[rows]), has_ended[rows], quoted=True))
    for name, (values, present) in zip(("duration_sec", "bytes_up", "bytes_down"), columns["numbers"], strict=True):
        if present[rows].any():
            parts.append(_field(name, pc.cast(pa.array(values[rows]), pa.string()), present[rows]))
    metas = [columns["metas"][row] for row in rows.tolist()]
    if metas.count(None) < len(metas):
        present = np.array([meta is not None for meta in metas], dtype=bool)
        meta_texts = pa.array([meta or b"" for meta in metas], pa.string())
        parts.append(_field("meta", meta_texts, present))
    return pc.binary_join_element_wise(
        '{"started_at":"', parts[0], '"', *parts[1:], "}", "", null_handling="replace", null_replacement=""
    )


def _event_ids(
    context: RequestContext,
    items: list[dict[str, Any]],
    rows: np.ndarray,
    columns: dict[str, Any],
    properties: pa.Array,
) -> tuple[pa.Array, np.ndarray]:
    """The stored event ids (``build_row``'s identity) and which rows could be given one."""
    raw = _Column([items[row].get("event_id") for row in rows.tolist()])
    canonical = _canonical_uuids(raw.texts) & raw.fine()
    if canonical.all():
        return raw.texts, canonical
    project_id = context.project.id
    ids = raw.texts.to_pylist()
    usable = np.ones(len(rows), dtype=bool)
    for position in np.flatnonzero(~canonical).tolist():
        row = int(rows[position])
        client_id = items[row].get("event_id")
        try:
            if client_id is None or client_id == "":
                ids[position] = event_id_from_content(
                    project_id,
                    columns["source"][row].as_py(),
                    columns["kind"][row].as_py(),
                    columns["user"][row].as_py(),
                    str(int(columns["started"][row])),
                    properties[position].as_py().encode(),
                )
            else:
                ids[position] = event_id_from_client(project_id, check_name(client_id, "event_id"))
        except EventRejected:
            usable[position] = False
    return pa.array(ids, pa.string()), usable


def _constant(name: str, value: Any, count: int) -> pa.Array:
    arrow_type = ARROW_SCHEMA.field(name).type
    if name == "flags":  # no row of the fast path is clamped: no flag
        offsets = pa.array(np.zeros(count + 1, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, pa.array([], pa.string())).cast(arrow_type)
    if value is None:
        return pa.nulls(count, arrow_type)
    return pa.repeat(pa.scalar(value, arrow_type), count)


def _fast_table(
    context: RequestContext, items: list[dict[str, Any]], rows: np.ndarray, columns: dict[str, Any]
) -> tuple[pa.Table, np.ndarray]:
    """The Arrow rows of the taken candidates, and which of them keep every rule of build_row."""
    properties = _properties(columns, rows)
    take = pa.array(rows)
    kinds, users, sources = (columns[name].take(take) for name in ("kind", "user", "source"))
    limit = context.max_event_bytes - pc.utf8_length(kinds).to_numpy() - pc.utf8_length(users).to_numpy()
    fits = pc.binary_length(properties).to_numpy() <= limit
    event_ids, identified = _event_ids(context, items, rows, columns, properties)
    unique_users = pc.unique(users)
    persons = pa.array([person_id_for(context.project.id, user) for user in unique_users.to_pylist()], pa.string())
    varying = {
        "event_id": event_ids,
        "event": kinds,
        "distinct_id": users,
        "person_id": persons.take(pc.index_in(users, value_set=unique_users)),
        "timestamp": pa.array(columns["started"][rows], _TIMESTAMP),
        "source_id": sources,
        "properties": properties,
    }
    # The rest is the context's template (what build_row leaves of it for the stream's rows).
    template = context.row_template
    arrays = [
        varying[name] if name in varying else _constant(name, template[name], len(rows)) for name in ARROW_SCHEMA.names
    ]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA), fits & identified


def _columnar_context(context: RequestContext) -> bool:
    """A context whose rows build_row fills from the template alone (the stream's)."""
    return context.lib == LIB and not context.user_agent and not context.check_unicode and context.policy is None


def decode_network_actions(values: Sequence[bytes], context: RequestContext) -> DecodedBatch:
    """Decode a batch of provider messages: columns where exact, the per-message path for the rest.

    Same answer as :func:`decode_per_message` (rows, their order and origin, refusals).
    """
    if not _columnar_context(context):
        metrics.NETWORK_ACTIONS_DECODED.labels(path="per_message").inc(len(values))
        return decode_per_message(values, context)
    slow = _Rows()
    items: list[dict[str, Any]] = []
    positions: list[int] = []
    for index, value in enumerate(values):
        try:
            item = orjson.loads(value)
        except orjson.JSONDecodeError:
            item = None
        if type(item) is dict and not is_control(value):
            items.append(item)
            positions.append(index)
        else:
            slow.add_value(context, index, value)
    fast: pa.Table | None = None
    fast_indices = np.zeros(0, dtype=np.int64)
    if items:
        ok, columns = _decide(context, items)
        rows = np.flatnonzero(ok)
        if rows.size:
            fast, kept = _fast_table(context, items, rows, columns)
            if not kept.all():
                fast = fast.filter(pa.array(kept))
                rows = rows[kept]
            fast_indices = np.asarray(positions, dtype=np.int64)[rows]
        taken = np.zeros(len(items), dtype=bool)
        taken[rows] = True
        for candidate in np.flatnonzero(~taken).tolist():
            slow.add(context, positions[candidate], items[candidate], -1)
    metrics.NETWORK_ACTIONS_DECODED.labels(path="columnar").inc(len(fast_indices))
    metrics.NETWORK_ACTIONS_DECODED.labels(path="per_message").inc(len(values) - len(fast_indices))
    return _merge(fast, fast_indices, slow)


def _merge(fast: pa.Table | None, fast_indices: np.ndarray, slow: _Rows) -> DecodedBatch:
    """Both paths' rows in message order (``DecodedBatch.part`` relies on it)."""
    rejected = sorted(slow.rejected, key=lambda item: item.index)
    if fast is None:
        return DecodedBatch(
            slow.table(), np.array(slow.indices, dtype=np.int64), np.array(slow.lines, dtype=np.int64), rejected
        )
    fast_lines = np.full(len(fast_indices), -1, dtype=np.int64)
    if not slow.rows:
        return DecodedBatch(fast, fast_indices, fast_lines, rejected)
    indices = np.concatenate([fast_indices, np.array(slow.indices, dtype=np.int64)])
    lines = np.concatenate([fast_lines, np.array(slow.lines, dtype=np.int64)])
    order = np.argsort(indices, kind="stable")
    table = pa.concat_tables([fast, slow.table()]).take(pa.array(order))
    return DecodedBatch(table, indices[order], lines[order], rejected)
