"""Deterministic synthetic events for the benchmark suite (and for tests of later features).

Builds Arrow batches in the events schema (:data:`analytics.warehouse.schema.ARROW_SCHEMA`)
with numpy and Arrow compute only: no Python loop per event, so 10 million events take
seconds, not minutes. The same ``seed`` always yields the same events, batch by batch.

What the data looks like (``BENCH_SCALE=1``: 10 million events, 1 million users):

- Users are drawn per *session* from a Zipf-like law (weight of the user of rank r is
  ``1 / r**ZIPF_EXPONENT``): a few heavy users have thousands of events, most have a few.
  A user drawn again later in the time range is a *return visit*.
- 80 % of users are web visitors: sessions of page views and clicks, some of which end in
  the funnel ``page_view -> signup`` or ``page_view -> signup -> purchase`` (purchase with
  ``revenue``). 20 % are telecom subscribers whose sessions are network actions
  (``CALL_OUT``, ``CALL_IN``, ``SMS_SENT``, ``SMS_RECEIVED``, ``DATA``) with ``duration_sec``,
  ``bytes_up``, ``bytes_down``, ``started_at``, ``ended_at`` in ``properties``.
- Time runs forward at ``events_per_second`` (3,000/s by default, so 10.8 million events
  make one hour) from :data:`DEFAULT_START`; each batch covers its own slice of time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from analytics.loadgen.scenarios import uuid_text_matrix
from analytics.warehouse.schema import ARROW_SCHEMA

EVENTS_PER_SCALE = 10_000_000
USERS_PER_SCALE = 1_000_000
DEFAULT_SEED = 20260601
DEFAULT_START = datetime(2026, 6, 1, tzinfo=UTC)
DEFAULT_BATCH_ROWS = 500_000
ZIPF_EXPONENT = 0.6
MEAN_SESSION_EVENTS = 8.0
TELECOM_USER_SHARE = 0.2
WEB_EVENTS = ("page_view", "click", "signup", "purchase")
TELECOM_EVENTS = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
# Retention far in the future so the table's TTL never drops benchmark rows mid-run.
RETENTION_DAYS = 3650

_BROWSERS = ("Chrome", "Safari", "Firefox", "Edge", "Samsung Internet")
_OSES = ("Windows", "macOS", "iOS", "Android", "Linux")
_DEVICES = ("desktop", "mobile", "tablet")
_COUNTRIES = ("US", "DE", "FR", "GB", "IN", "BR", "JP", "NG", "ES", "CA")
_PAGES = ("/", "/pricing", "/docs", "/blog", "/product", "/cart", "/checkout", "/about")


@dataclass(frozen=True)
class DataSpec:
    """Sizes and seed of one synthetic data set."""

    events: int
    users: int
    project_id: int = 1
    seed: int = DEFAULT_SEED
    events_per_second: float = 3000.0
    start: datetime = DEFAULT_START
    batch_rows: int = DEFAULT_BATCH_ROWS
    # Wrap the events that sessions carry past the end of the range back to its start, so
    # that exactly ``events`` fall in [start, end) (e.g. "one hour of 10.8M events").
    confine: bool = False

    @classmethod
    def for_scale(cls, scale: float, **overrides: Any) -> DataSpec:
        """10M events / 1M users times ``scale`` (at least 1 event and 1 user)."""
        events = max(1, round(EVENTS_PER_SCALE * scale))
        users = max(1, round(USERS_PER_SCALE * scale))
        return cls(events=events, users=users, **overrides)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        """Exclusive upper bound of the event timestamps (sessions may run a little past it)."""
        return self.start_ms + int(self.events / self.events_per_second * 1000)


def _uuid_strings(raw: np.ndarray) -> pa.StringArray:
    """Canonical UUID strings from an (n, 16) uint8 array, built without a Python loop."""
    n = raw.shape[0]
    offsets = np.arange(0, 36 * (n + 1), 36, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(uuid_text_matrix(raw).tobytes()))


def _random_uuids(rng: np.random.Generator, n: int) -> pa.StringArray:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return _uuid_strings(raw)


def person_uuids(user_index: np.ndarray, project_id: int = 1) -> pa.StringArray:
    """A stable person UUID per (project, user index): the same user always maps to the same id."""
    raw = np.zeros((len(user_index), 16), dtype=np.uint8)
    raw[:, 0:8] = np.frombuffer(np.full(len(user_index), project_id, dtype=">u8").tobytes(), np.uint8).reshape(-1, 8)
    raw[:, 8:16] = np.frombuffer(user_index.astype(">u8").tobytes(), np.uint8).reshape(-1, 8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x80  # version 8 (custom) keeps the id valid
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return _uuid_strings(raw)


def _prefixed(prefix: str, numbers: np.ndarray | pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def _pick(choices: tuple[str, ...], index: np.ndarray) -> pa.Array:
    return pa.array(choices, pa.string()).take(pa.array(index.astype(np.int32)))


class _UserSampler:
    """Draws user indexes with a Zipf-like weight per rank (searchsorted over the CDF)."""

    def __init__(self, users: int, seed: int) -> None:
        weights = 1.0 / np.power(np.arange(1, users + 1, dtype=np.float64), ZIPF_EXPONENT)
        self.cdf = np.cumsum(weights)
        self.cdf /= self.cdf[-1]
        # Rank -> user index: heavy users are spread over the id space, not ids 0, 1, 2 ...
        self.rank_to_user = np.random.default_rng([seed, 0xC0FFEE]).permutation(users)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        ranks = np.searchsorted(self.cdf, rng.random(n), side="right")
        return self.rank_to_user[np.minimum(ranks, len(self.cdf) - 1)]


def _batch(spec: DataSpec, sampler: _UserSampler, index: int, rows: int, first_row: int) -> pa.Table:
    rng = np.random.default_rng([spec.seed, index])
    # Sessions: lengths 1 + geometric, cut so the batch has exactly `rows` events.
    sessions = max(1, int(rows / MEAN_SESSION_EVENTS * 1.2) + 8)
    lengths = rng.geometric(1.0 / MEAN_SESSION_EVENTS, size=sessions)
    ends = np.cumsum(lengths)
    count = int(np.searchsorted(ends, rows, side="left")) + 1
    lengths = lengths[:count].copy()
    if lengths.sum() < rows:  # rare: the draw fell short; extend the last session
        lengths[-1] += rows - lengths.sum()
    lengths[-1] -= lengths.sum() - rows
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    session_of = np.repeat(np.arange(count), lengths)
    position = np.arange(rows) - starts[session_of]
    length_of = lengths[session_of]

    users = sampler.draw(rng, count)
    user_of = users[session_of]
    telecom = (users % 5) == 0  # TELECOM_USER_SHARE of users, stable per user
    telecom_of = telecom[session_of]

    # Time: this batch owns [slice_start, slice_start + rows / rate); sessions start inside it.
    slice_start = spec.start_ms + int(first_row / spec.events_per_second * 1000)
    slice_ms = max(1, int(rows / spec.events_per_second * 1000))
    session_start = slice_start + rng.integers(0, slice_ms, size=count)
    gaps = rng.exponential(20_000.0, size=rows).astype(np.int64)  # ~20 s between a session's events
    gaps[starts] = 0
    offset_in_session = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[starts], lengths)
    timestamp = session_start[session_of] + offset_in_session
    if spec.confine:
        span = spec.end_ms - spec.start_ms
        timestamp = spec.start_ms + (timestamp - spec.start_ms) % max(1, span)
    received_at = timestamp + rng.integers(5, 400, size=rows)

    # Web funnel: depth 0 (browse), 1 (signup), 2 (signup then purchase) at the session's end.
    depth = rng.choice(3, size=count, p=[0.85, 0.09, 0.06])
    depth = np.minimum(depth, lengths - 1)  # a one-event session is a single page view
    depth_of = depth[session_of]
    from_end = length_of - 1 - position
    web_event = np.where(rng.random(rows) < 0.7, 0, 1)  # page_view or click
    web_event[position == 0] = 0
    web_event[(depth_of == 1) & (from_end == 0)] = 2
    web_event[(depth_of == 2) & (from_end == 1)] = 2
    web_event[(depth_of == 2) & (from_end == 0)] = 3
    telecom_event = rng.choice(5, size=rows, p=[0.25, 0.2, 0.15, 0.15, 0.25])
    event_code = np.where(telecom_of, 4 + telecom_event, web_event)
    event = _pick(WEB_EVENTS + TELECOM_EVENTS, event_code)

    is_purchase = event_code == 3
    revenue_values = np.round(rng.lognormal(3.5, 0.8, size=rows), 2)
    revenue = pa.array(revenue_values, pa.float64(), mask=~is_purchase)

    # Properties: JSON built column-wise with Arrow's string kernels.
    page = rng.integers(0, len(_PAGES), size=rows)
    duration = np.where(np.isin(telecom_event, (0, 1)), rng.integers(1, 1800, size=rows), 0)
    bytes_up = np.where(telecom_event == 4, rng.integers(1_000, 50_000_000, size=rows), 0)
    bytes_down = np.where(telecom_event == 4, rng.integers(10_000, 500_000_000, size=rows), bytes_up // 100)
    ended = timestamp + duration * 1000
    telecom_props = pc.binary_join_element_wise(
        '{"duration_sec":',
        pc.cast(pa.array(duration), pa.string()),
        ',"bytes_up":',
        pc.cast(pa.array(bytes_up), pa.string()),
        ',"bytes_down":',
        pc.cast(pa.array(bytes_down), pa.string()),
        ',"started_at":',
        pc.cast(pa.array(timestamp), pa.string()),
        ',"ended_at":',
        pc.cast(pa.array(ended), pa.string()),
        ',"meta":{"cell":"c',
        pc.cast(pa.array(user_of % 997), pa.string()),
        '"}}',
        "",
    )
    page_path = _pick(_PAGES, page)
    web_props = pc.binary_join_element_wise(
        '{"path":"', page_path, '","plan":"', _pick(("free", "pro", "team"), user_of % 3), '"}', ""
    )
    properties = pc.if_else(pa.array(telecom_of), telecom_props, web_props)
    url = pc.if_else(
        pa.array(telecom_of), pa.scalar(""), pc.binary_join_element_wise("https://shop.example", page_path, "")
    )
    referrer = pc.if_else(pa.array((position == 0) & ~telecom_of), pa.scalar("https://search.example/"), pa.scalar(""))

    session_id = _prefixed(f"s{spec.seed % 100000}-{index}-", np.arange(count))
    user_attr = user_of  # browser, OS, device, country are stable per user
    columns = {
        "project_id": pa.array(np.full(rows, spec.project_id, dtype=np.uint64)),
        "event_id": _random_uuids(rng, rows),
        "event": event,
        "distinct_id": _prefixed("u", user_of),
        "person_id": person_uuids(user_of, spec.project_id),
        "session_id": session_id.take(pa.array(session_of.astype(np.int32))),
        "timestamp": pa.array(timestamp, pa.timestamp("ms", tz="UTC")),
        "received_at": pa.array(received_at, pa.timestamp("ms", tz="UTC")),
        "sent_at": pa.array(received_at - 3, pa.timestamp("ms", tz="UTC")),
        "source_id": pc.if_else(pa.array(telecom_of), pa.scalar("network"), pa.scalar("web")),
        "lib": pa.repeat(pa.scalar("bench"), rows),
        "lib_version": pa.repeat(pa.scalar("1.0"), rows),
        "properties": properties,
        "url": url,
        "referrer": referrer,
        "browser": _pick(_BROWSERS, user_attr % len(_BROWSERS)),
        "browser_version": _pick(("120", "121", "17.2", "124"), (user_attr // 7) % 4),
        "os": _pick(_OSES, (user_attr // 3) % len(_OSES)),
        "os_version": _pick(("10", "11", "14", "17"), (user_attr // 11) % 4),
        "device_type": _pick(_DEVICES, (user_attr // 5) % len(_DEVICES)),
        "country": _pick(_COUNTRIES, (user_attr // 13) % len(_COUNTRIES)),
        "ip": pa.repeat(pa.scalar(""), rows),
        "revenue": revenue,
        "flags": pa.ListArray.from_arrays(pa.array(np.zeros(rows + 1, dtype=np.int32)), pa.array([], pa.string())),
        "retention_days": pa.array(np.full(rows, RETENTION_DAYS, dtype=np.uint16)),
    }
    return pa.Table.from_arrays([columns[field.name] for field in ARROW_SCHEMA], schema=ARROW_SCHEMA)


def iter_batches(spec: DataSpec) -> Iterator[pa.Table]:
    """The data set as Arrow tables of at most ``spec.batch_rows`` rows, in time order."""
    sampler = _UserSampler(spec.users, spec.seed)
    first = 0
    index = 0
    while first < spec.events:
        rows = min(spec.batch_rows, spec.events - first)
        yield _batch(spec, sampler, index, rows, first)
        first += rows
        index += 1


def generate(spec: DataSpec) -> pa.Table:
    """The whole data set as one Arrow table (mind the memory above a few million rows)."""
    return pa.concat_tables(list(iter_batches(spec)))


def api_events(table: pa.Table) -> list[dict[str, Any]]:
    """The batch as ingestion API events (``POST /api/v1/events``), for HTTP benchmarks."""
    columns = table.select(["event_id", "event", "distinct_id", "timestamp", "properties"]).to_pydict()
    events = []
    for event_id, name, distinct_id, timestamp, properties in zip(
        columns["event_id"],
        columns["event"],
        columns["distinct_id"],
        columns["timestamp"],
        columns["properties"],
        strict=True,
    ):
        events.append(
            {
                "event_id": event_id,
                "event": name,
                "distinct_id": distinct_id,
                "timestamp": int(timestamp.timestamp() * 1000),
                "properties": orjson.loads(properties),
            }
        )
    return events
