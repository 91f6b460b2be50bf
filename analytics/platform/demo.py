"""The demo data set that `make run` loads on first start (``DEMO_EVENTS`` events, 90 days).

Two kinds of users, so every part of the product has something to show:

- a web product: sessions of ``$pageview`` (url, referrer, browser user agent), some users
  ``signup`` and some of those ``purchase`` with ``revenue``;
- a telecom operator: network actions ``CALL_OUT``, ``CALL_IN``, ``SMS_SENT``,
  ``SMS_RECEIVED``, ``DATA`` with ``duration_sec``, ``bytes_up``, ``bytes_down``,
  ``started_at``, ``ended_at`` and ``meta``.

Events are built as the native ingestion API receives them and go through the real
ingestion code (validation, enrichment, event ids) and the store writer, exactly like a
POST to ``/api/v1/events``. The generator is seeded and event ids are fixed, so loading
twice stores every event once.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics.accounts.models import Project
from analytics.accounts.selectors import IngestionProject
from analytics.core.logging import get_logger
from analytics.core.timeutils import to_epoch_ms
from analytics.ingestion.validation import RequestContext, native_rows
from analytics.streams.sink import store_event_batch

log = get_logger(__name__)

DEMO_DAYS = 90
DEMO_SEED = 20260101
_CHUNK = 20_000

_PAGES = ("/", "/pricing", "/features", "/docs", "/blog", "/blog/launch", "/signup", "/checkout")
_REFERRERS = ("", "", "https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/")
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
)
_COUNTRIES = ("DE", "US", "GB", "FR", "NL", "IN", "BR", "JP")
_PLANS = (("starter", 9.0), ("team", 49.0), ("business", 199.0))
_TELECOM_ACTIONS = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
_TELECOM_WEIGHTS = (25, 20, 15, 15, 25)
_CELLS = ("cell-berlin-01", "cell-berlin-07", "cell-hamburg-03", "cell-munich-11")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def demo_events(total: int, *, now: datetime, seed: int = DEMO_SEED) -> Iterator[dict[str, Any]]:
    """Yield ``total`` events in the native API format, spread over the last 90 days."""
    rng = random.Random(seed)
    start = now - timedelta(days=DEMO_DAYS)
    users = max(50, total // 60)
    produced = 0
    session = 0
    latest = _iso(now - timedelta(seconds=1))
    while produced < total:
        session += 1
        user = int(users * rng.random() ** 1.6)  # a few heavy users, a long tail
        telecom = user % 5 == 0
        # Later days are busier: the product grows.
        moment = start + timedelta(days=DEMO_DAYS * rng.random() ** 0.7, seconds=rng.randrange(86_400))
        moment = min(moment, now - timedelta(minutes=1))
        for event in (_telecom_session if telecom else _web_session)(rng, user, session, moment):
            if produced >= total:
                return
            if event["timestamp"] > latest:
                break  # a session running into the future: the rest of it has not happened yet
            event["event_id"] = f"demo-{seed}-{produced}"
            produced += 1
            yield event


def _web_session(rng: random.Random, user: int, session: int, moment: datetime) -> Iterator[dict[str, Any]]:
    distinct_id = f"web-user-{user}"
    common = {
        "$session_id": f"s{session}",
        "$user_agent": _AGENTS[user % len(_AGENTS)],
        "$country": _COUNTRIES[user % len(_COUNTRIES)],
    }
    pages = 1 + min(int(rng.expovariate(0.35)), 15)
    referrer = rng.choice(_REFERRERS)
    for _ in range(pages):
        yield {
            "event": "$pageview",
            "distinct_id": distinct_id,
            "timestamp": _iso(moment),
            "properties": {
                **common,
                "$current_url": "https://demo.example" + rng.choice(_PAGES),
                "$referrer": referrer,
            },
        }
        moment += timedelta(seconds=rng.randrange(5, 180))
    if rng.random() < 0.08:
        yield {"event": "signup", "distinct_id": distinct_id, "timestamp": _iso(moment), "properties": common}
        if rng.random() < 0.35:
            plan, price = rng.choice(_PLANS)
            moment += timedelta(seconds=rng.randrange(30, 900))
            yield {
                "event": "purchase",
                "distinct_id": distinct_id,
                "timestamp": _iso(moment),
                "properties": {**common, "plan": plan, "revenue": price, "currency": "EUR"},
            }


def _telecom_session(rng: random.Random, user: int, session: int, moment: datetime) -> Iterator[dict[str, Any]]:
    distinct_id = f"msisdn-4917{user:08d}"
    for _ in range(1 + min(int(rng.expovariate(0.4)), 10)):
        action = rng.choices(_TELECOM_ACTIONS, _TELECOM_WEIGHTS)[0]
        if action in ("CALL_OUT", "CALL_IN"):
            duration, up, down = rng.randrange(5, 1200), 0, 0
        elif action == "DATA":
            duration = rng.randrange(10, 3600)
            up, down = rng.randrange(1_000, 5_000_000), rng.randrange(10_000, 80_000_000)
        else:
            duration, up, down = 0, rng.randrange(40, 160), 0
        ended = moment + timedelta(seconds=duration)
        yield {
            "event": action,
            "distinct_id": distinct_id,
            "timestamp": _iso(moment),
            "properties": {
                "duration_sec": duration,
                "bytes_up": up,
                "bytes_down": down,
                "started_at": _iso(moment),
                "ended_at": _iso(ended),
                "meta": {"cell": _CELLS[user % len(_CELLS)], "roaming": user % 17 == 0},
            },
        }
        moment = ended + timedelta(seconds=rng.randrange(30, 7200))


def demo_load(*, project_id: int, total: int, progress: Callable[[int, int], None] | None = None) -> int:
    """Send ``total`` demo events for the project through ingestion into the store.

    Returns the number of events stored. Rejected events would be a bug in the generator,
    so they are logged.
    """
    project = Project.objects.get(pk=project_id)
    ingestion_project = IngestionProject.from_project(project)
    now = datetime.now(UTC)
    received_at_ms = to_epoch_ms(now)
    stored = 0
    chunk: list[dict[str, Any]] = []

    def flush(number: int) -> None:
        nonlocal stored
        context = RequestContext(project=ingestion_project, received_at_ms=received_at_ms, lib="demo")
        result = native_rows(context, chunk)
        if result.rejected:
            log.warning("demo.events.rejected", count=len(result.rejected), first=result.rejected[0])
        stored += store_event_batch(result.rows, dedup_token=f"demo:{project.id}:{DEMO_SEED}:{number}")
        chunk.clear()
        if progress is not None:
            progress(stored, total)

    number = 0
    for event in demo_events(total, now=now):
        chunk.append(event)
        if len(chunk) >= _CHUNK:
            flush(number)
            number += 1
    if chunk:
        flush(number)
    log.info("demo.loaded", project_id=project.id, events=stored)
    return stored
