"""Traffic scenarios of the load generator: what a stream of API events looks like.

Each scenario yields events in the native API shape (``event``, ``distinct_id``,
``event_id``, ``timestamp`` in epoch milliseconds, ``properties``). Every event has a
fresh UUID, which the verification later looks up in the store.

- ``web``: visitors with sessions of page views; some sign up, some of those buy (with
  revenue); a share of sessions are return visits of earlier visitors (so funnels,
  retention and unique-user counts have something real to find).
- ``telecom``: subscribers whose sessions are network actions (``CALL_OUT``, ``CALL_IN``,
  ``SMS_SENT``, ``SMS_RECEIVED``, ``DATA``) with the properties of the ready telecom schema.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]

_PAGES = ("/", "/pricing", "/docs", "/blog/launch", "/product", "/features", "/about", "/cart")
_REFERRERS = ("", "https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/", "")
_PLANS = (("starter", 9.0), ("pro", 29.0), ("team", 99.0))
_TELECOM_ACTIONS = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
_CELLS = tuple(f"cell-{index:03d}" for index in range(40))


def _new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Users:
    """Draws users; a share of sessions come back from users seen before."""

    def __init__(self, rng: random.Random, users: int, prefix: str, return_share: float = 0.3) -> None:
        self.rng = rng
        self.users = max(1, users)
        self.prefix = prefix
        self.return_share = return_share
        self.seen: list[str] = []

    def next(self) -> str:
        if self.seen and self.rng.random() < self.return_share:
            return self.rng.choice(self.seen)
        user = f"{self.prefix}-{self.rng.randrange(self.users)}"
        if len(self.seen) < 10_000:
            self.seen.append(user)
        return user


def web_events(seed: int, users: int) -> Iterator[Event]:
    """Sessions of page views, sign-ups and purchases (with revenue), forever."""
    rng = random.Random(seed)
    visitors = _Users(rng, users, f"visitor{seed}")
    while True:
        distinct_id = visitors.next()
        session_id = _new_id(rng)
        referrer = rng.choice(_REFERRERS)
        now = int(time.time() * 1000)
        for step in range(rng.randint(1, 8)):
            page = rng.choice(_PAGES)
            yield {
                "event": "page_view",
                "distinct_id": distinct_id,
                "event_id": _new_id(rng),
                "timestamp": now + step,
                "properties": {"$session_id": session_id, "$current_url": f"https://shop.example.com{page}",
                               "$referrer": referrer if step == 0 else "", "path": page},
            }
        if rng.random() < 0.12:
            plan, price = rng.choice(_PLANS)
            yield {"event": "signup", "distinct_id": distinct_id, "event_id": _new_id(rng), "timestamp": now + 10,
                   "properties": {"$session_id": session_id, "plan": plan}}
            if rng.random() < 0.4:
                yield {"event": "purchase", "distinct_id": distinct_id, "event_id": _new_id(rng),
                       "timestamp": now + 20,
                       "properties": {"$session_id": session_id, "plan": plan, "revenue": price, "currency": "EUR"}}


def telecom_events(seed: int, users: int) -> Iterator[Event]:
    """Network actions of subscribers, with durations, volumes and times, forever."""
    rng = random.Random(seed)
    subscribers = _Users(rng, users, f"msisdn{seed}", return_share=0.6)
    while True:
        distinct_id = subscribers.next()
        now = int(time.time() * 1000)
        for step in range(rng.randint(1, 6)):
            action = rng.choice(_TELECOM_ACTIONS)
            started = now - rng.randint(1_000, 600_000)
            properties: dict[str, Any] = {"started_at": _iso(started), "meta": {"cell": rng.choice(_CELLS)}}
            if action in ("CALL_OUT", "CALL_IN", "DATA"):
                duration = round(rng.expovariate(1 / 90), 1)
                properties["duration_sec"] = duration
                properties["ended_at"] = _iso(started + int(duration * 1000))
            if action == "DATA":
                properties["bytes_up"] = int(rng.expovariate(1 / 200_000))
                properties["bytes_down"] = int(rng.expovariate(1 / 2_000_000))
            yield {"event": action, "distinct_id": distinct_id, "event_id": _new_id(rng), "timestamp": now + step,
                   "properties": properties}


SCENARIOS: dict[str, Callable[[int, int], Iterator[Event]]] = {"web": web_events, "telecom": telecom_events}
