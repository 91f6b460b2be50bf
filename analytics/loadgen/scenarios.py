"""Traffic scenarios of the load generator: what a stream of API events looks like.

Events are in the native API shape (``event``, ``distinct_id``, ``event_id``,
``timestamp`` in epoch milliseconds, ``properties``). Every event has a fresh random
(version 4) UUID, which the verification later looks up in the store.

- ``web``: visitors with sessions of page views; some sign up, some of those buy (with
  revenue); a share of sessions are return visits of earlier visitors (so funnels,
  retention and unique-user counts have something real to find).
- ``telecom``: subscribers whose sessions are network actions (``CALL_OUT``, ``CALL_IN``,
  ``SMS_SENT``, ``SMS_RECEIVED``, ``DATA``) with the properties of the ready telecom schema.

Why chunks of encoded events: the load generator shares the machine with what it
measures. Drawing and encoding one event at a time in Python (dicts, ``uuid.UUID``,
``datetime``) took a large share of a core at the end-to-end target rate, CPU taken from
the processes under test. A scenario therefore draws whole sessions at once with numpy
and hands out :class:`EventChunk` objects: each event already encoded as its JSON object (one bytes
% format per event), and its id as 16 raw bytes for the ledger (no UUID parsing later).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

_PAGES = ("/", "/pricing", "/docs", "/blog/launch", "/product", "/features", "/about", "/cart")
_REFERRERS = ("", "https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/", "")
_PLANS = (("starter", 9.0), ("pro", 29.0), ("team", 99.0))
_TELECOM_ACTIONS = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
_CELLS = tuple(f"cell-{index:03d}" for index in range(40))
_SEEN_USERS = 10_000  # users remembered for return visits
_SESSIONS_PER_CHUNK = 2_000
_MIN_SESSIONS_PER_CHUNK = 10
_EVENTS_PER_SESSION = 4  # about 4.7 in web sessions, 3.5 in telecom ones
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

_PAGE_VIEW = (
    b'{"event":"$pageview","distinct_id":"%s","event_id":"%s","timestamp":%d,"properties":'
    b'{"$session_id":"%s","$current_url":"https://shop.example.com%s","$referrer":"%s","path":"%s"}}'
)
_SIGNUP = (
    b'{"event":"signup","distinct_id":"%s","event_id":"%s","timestamp":%d,"properties":'
    b'{"$session_id":"%s","plan":"%s"}}'
)
_PURCHASE = (
    b'{"event":"purchase","distinct_id":"%s","event_id":"%s","timestamp":%d,"properties":'
    b'{"$session_id":"%s","plan":"%s","revenue":%s,"currency":"EUR"}}'
)
_TELECOM = b'{"event":"%s","distinct_id":"%s","event_id":"%s","timestamp":%d,"properties":{%s}}'


@dataclass
class EventChunk:
    """Encoded events: ``json[i]`` is event i's JSON object, ``ids[i]`` its id (16 bytes)."""

    json: list[bytes]
    ids: np.ndarray  # (n, 16) uint8

    def __len__(self) -> int:
        return len(self.json)

    def events(self) -> list[dict[str, Any]]:
        """The events as dicts (tests and debugging; the sender never decodes them)."""
        return [orjson.loads(item) for item in self.json]


def random_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random version-4 UUIDs as an (n, 16) uint8 array."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    return raw


def uuid_text_matrix(raw: np.ndarray) -> np.ndarray:
    """Canonical UUID text of each row of an (n, 16) uint8 array, as an (n, 36) uint8 array
    of ASCII (no Python loop per id)."""
    n = raw.shape[0]
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, 0:8] = hexed[:, 0:8]
    out[:, 9:13] = hexed[:, 8:12]
    out[:, 14:18] = hexed[:, 12:16]
    out[:, 19:23] = hexed[:, 16:20]
    out[:, 24:36] = hexed[:, 20:32]
    return out


def uuid_strings(raw: np.ndarray) -> list[bytes]:
    """Canonical UUID text of each row of an (n, 16) uint8 array."""
    return uuid_text_matrix(raw).view("S36").ravel().tolist()


def iso_strings(ms: np.ndarray) -> list[bytes]:
    """ISO 8601 UTC text with milliseconds (``2026-11-24T05:12:00.123Z``) of epoch-ms values."""
    text = np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")
    return [value.encode() + b"Z" for value in text.tolist()]


class _Users:
    """Draws one user per session; a share of sessions come back from users seen before."""

    def __init__(self, rng: np.random.Generator, users: int, prefix: str, return_share: float) -> None:
        self.rng = rng
        self.users = max(1, users)
        self.prefix = prefix
        self.return_share = return_share
        self.seen = np.empty(0, dtype=np.int64)

    def draw(self, sessions: int) -> list[bytes]:
        fresh = self.rng.integers(0, self.users, size=sessions)
        if self.seen.size:
            back = self.rng.random(sessions) < self.return_share
            picked = self.seen[self.rng.integers(0, self.seen.size, size=sessions)]
            drawn = np.where(back, picked, fresh)
            new = fresh[~back]
        else:
            drawn, new = fresh, fresh
        if self.seen.size < _SEEN_USERS:
            self.seen = np.concatenate([self.seen, new[: _SEEN_USERS - self.seen.size]])
        prefix = self.prefix.encode() + b"-"
        return [prefix + b"%d" % user for user in drawn.tolist()]


def _layout(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sessions of ``counts`` events: each event's session index and step within it."""
    session = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    return session, np.arange(int(counts.sum())) - starts[session]


class WebScenario:
    """Sessions of page views, sign-ups and purchases (with revenue), forever."""

    def __init__(self, seed: int, users: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.users = _Users(self.rng, users, f"visitor{seed}", return_share=0.3)

    def chunk(self, sessions: int = _SESSIONS_PER_CHUNK) -> EventChunk:
        rng = self.rng
        now = int(time.time() * 1000)
        views = rng.integers(1, 9, size=sessions)
        signup = rng.random(sessions) < 0.12
        purchase = signup & (rng.random(sessions) < 0.4)
        counts = views + signup + purchase
        session, step = _layout(counts)
        ids = random_ids(rng, session.size)
        id_text = uuid_strings(ids)
        who = self.users.draw(sessions)
        session_ids = uuid_strings(random_ids(rng, sessions))
        referrers = [_REFERRERS[index].encode() for index in rng.integers(0, len(_REFERRERS), size=sessions)]
        plans = rng.integers(0, len(_PLANS), size=sessions).tolist()
        pages = [_PAGES[index].encode() for index in rng.integers(0, len(_PAGES), size=session.size)]
        views_list = views.tolist()
        out: list[bytes] = []
        for index, (owner, position) in enumerate(zip(session.tolist(), step.tolist(), strict=True)):
            user, sid = who[owner], session_ids[owner]
            if position < views_list[owner]:
                page = pages[index]
                out.append(
                    _PAGE_VIEW
                    % (
                        user,
                        id_text[index],
                        now + position,
                        sid,
                        page,
                        referrers[owner] if position == 0 else b"",
                        page,
                    )
                )
            elif position == views_list[owner]:
                out.append(_SIGNUP % (user, id_text[index], now + 10, sid, _PLANS[plans[owner]][0].encode()))
            else:
                plan, price = _PLANS[plans[owner]]
                out.append(_PURCHASE % (user, id_text[index], now + 20, sid, plan.encode(), repr(price).encode()))
        return EventChunk(out, ids)


class TelecomScenario:
    """Network actions of subscribers, with durations, volumes and times, forever."""

    def __init__(self, seed: int, users: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.users = _Users(self.rng, users, f"msisdn{seed}", return_share=0.6)

    def chunk(self, sessions: int = _SESSIONS_PER_CHUNK) -> EventChunk:
        rng = self.rng
        now = int(time.time() * 1000)
        counts = rng.integers(1, 7, size=sessions)
        session, step = _layout(counts)
        n = session.size
        ids = random_ids(rng, n)
        id_text = uuid_strings(ids)
        who = self.users.draw(sessions)
        action = rng.integers(0, len(_TELECOM_ACTIONS), size=n)
        started = now - rng.integers(1_000, 600_001, size=n)
        duration = np.round(rng.exponential(90.0, size=n), 1)
        ended = started + (duration * 1000).astype(np.int64)
        started_text, ended_text = iso_strings(started), iso_strings(ended)
        cells = rng.integers(0, len(_CELLS), size=n).tolist()
        bytes_up = rng.exponential(200_000, size=n).astype(np.int64).tolist()
        bytes_down = rng.exponential(2_000_000, size=n).astype(np.int64).tolist()
        durations = duration.tolist()
        names = [name.encode() for name in _TELECOM_ACTIONS]
        out: list[bytes] = []
        for index, (owner, position, kind) in enumerate(
            zip(session.tolist(), step.tolist(), action.tolist(), strict=True)
        ):
            properties = b'"started_at":"%s","meta":{"cell":"%s"}' % (
                started_text[index],
                _CELLS[cells[index]].encode(),
            )
            if kind in (0, 1, 4):  # CALL_OUT, CALL_IN, DATA
                properties += b',"duration_sec":%s,"ended_at":"%s"' % (
                    repr(durations[index]).encode(),
                    ended_text[index],
                )
            if kind == 4:
                properties += b',"bytes_up":%d,"bytes_down":%d' % (bytes_up[index], bytes_down[index])
            out.append(_TELECOM % (names[kind], who[owner], id_text[index], now + position, properties))
        return EventChunk(out, ids)


Scenario = WebScenario | TelecomScenario
SCENARIOS: dict[str, Callable[[int, int], Scenario]] = {"web": WebScenario, "telecom": TelecomScenario}


def sessions_per_chunk(rate: float | None) -> int:
    """Sessions per chunk for a sender at ``rate`` events/s (None or 0: as fast as it can).

    Events are stamped when their chunk is drawn, so a chunk should last about two seconds
    of sending: at a low rate a full chunk (about 9,000 events) would be sent minutes after
    its time stamps, and every event would arrive late (the aggregation recomputes late
    buckets, and send-to-stored latency would not be what a real client sees).
    """
    if not rate:
        return _SESSIONS_PER_CHUNK
    return max(_MIN_SESSIONS_PER_CHUNK, min(_SESSIONS_PER_CHUNK, int(rate * 2 / _EVENTS_PER_SESSION)))


def event_chunks(name: str, seed: int, users: int, rate: float | None = None) -> Iterator[EventChunk]:
    """Chunks of encoded events of scenario ``name``, forever, sized for ``rate`` events/s."""
    scenario = SCENARIOS[name](seed, users)
    sessions = sessions_per_chunk(rate)
    while True:
        yield scenario.chunk(sessions)
