"""Generated web events and an independent Python sessionisation of them.

The reference re-states the rules of ``analytics/query/compiler/sessions.py`` in plain
Python over the rows the store holds; the tests compare the engine with it.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tests.query.helpers import moment_of
from tests.warehouse.helpers import event_row

# Gaps between a person's events: around the bounce limit, around a 30-minute timeout
# (exactly at it and one millisecond over), and long ones.
GAPS_MS = [1, 2_000, 9_999, 10_000, 60_000, 29 * 60_000 + 59_999, 30 * 60_000, 30 * 60_000 + 1, 2 * 3_600_000]
PAGES = [
    "https://shop.example/",
    "https://shop.example/pricing?utm_source=newsletter&utm_medium=email",
    "https://www.shop.example/blog/post-1#top",
    "/checkout?step=2",
    "https://shop.example/docs/a.b?utm_campaign=spring",
    "https://shop.example",
    "https://shop.example/caf%C3%A9?utm_campaign=black%20friday&utm_source=a+b",
    "",
]
REFERRERS = ["", "https://www.google.com/search?q=x", "https://news.ycombinator.com/item", "https://t.co/abc"]
EVENTS = ["$pageview", "$pageview", "$pageview", "click", "purchase"]


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def generate_web(
    project_id: int, *, start: datetime, persons: int, events_per_person: int, seed: int = 3
) -> list[dict]:
    """Each person's events in time order with the gaps above; some carry a client session id."""
    rng = random.Random(seed)
    rows = []
    for number in range(persons):
        person_id = str(uuid.UUID(int=rng.getrandbits(128)))
        moment = start + timedelta(milliseconds=rng.randrange(3_600_000))
        client_ids = [f"sid-{number}-{k}" for k in range(2)]
        for _ in range(events_per_person):
            moment += timedelta(milliseconds=rng.choice(GAPS_MS))
            properties: dict[str, Any] = {}
            if rng.random() < 0.15:
                properties["utm_source"] = rng.choice(["twitter", "ads", ""])
            rows.append(
                event_row(
                    project_id,
                    event=rng.choice(EVENTS),
                    distinct_id=f"user-{number}-{rng.randrange(2)}",
                    person_id=person_id,
                    session_id=rng.choice(client_ids) if rng.random() < 0.2 else "",
                    timestamp=moment,
                    received_at=moment,
                    url=rng.choice(PAGES),
                    referrer=rng.choice(REFERRERS),
                    country=rng.choice(["DE", "FR", "US", ""]),
                    browser=rng.choice(["Chrome", "Firefox", "Safari"]),
                    os=rng.choice(["Windows", "macOS", "iOS", "Android"]),
                    device_type=rng.choice(["Desktop", "Mobile", "Tablet"]),
                    properties=properties,
                )
            )
    return rows


def _order(row: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
    return moment_of(row), uuid.UUID(row["event_id"])


def session_groups(
    rows: list[dict[str, Any]], *, time_zone: str, timeout_minutes: int, split: bool, start: datetime, end: datetime
) -> dict[str, list[dict[str, Any]]]:
    """Session key -> its events in order, by the documented rules."""
    zone = ZoneInfo(time_zone)
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    chains: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if not start <= moment_of(row) < end:
            continue
        if row.get("session_id"):
            sessions["c:" + row["session_id"]].append(row)
        else:
            chains[row["person_id"]].append(row)
    for person_id, chain in chains.items():
        previous: datetime | None = None
        key = ""
        for row in sorted(chain, key=_order):
            moment = moment_of(row)
            if (
                previous is None
                or moment - previous > timedelta(minutes=timeout_minutes)
                or (split and moment.astimezone(zone).date() != previous.astimezone(zone).date())
            ):
                key = f"p:{person_id}:{ms(moment)}"
            sessions[key].append(row)
            previous = moment
    for events in sessions.values():
        events.sort(key=_order)
    return dict(sessions)


def _utm(entry: dict[str, Any], name: str) -> str:
    value = (entry.get("properties") or {}).get(name)
    if value:
        return str(value)
    return parse_qs(urlsplit(entry.get("url", "")).query).get(name, [""])[0]


def describe(key: str, events: list[dict[str, Any]], zone: ZoneInfo) -> dict[str, Any]:
    """A session as the API writes it."""
    entry, last = events[0], events[-1]
    duration = (ms(moment_of(last)) - ms(moment_of(entry))) / 1000
    pageviews = sum(1 for row in events if row["event"] == "$pageview")
    urls = [row.get("url", "") for row in events if row.get("url")]
    return {
        "session_key": key,
        "session_id": entry.get("session_id", ""),
        "person_id": entry["person_id"],
        "distinct_id": entry["distinct_id"],
        "start": moment_of(entry).astimezone(zone).isoformat(timespec="milliseconds"),
        "end": moment_of(last).astimezone(zone).isoformat(timespec="milliseconds"),
        "duration_seconds": duration,
        "event_count": len(events),
        "pageviews": pageviews,
        "is_bounce": pageviews == 1 and duration < 10,
        "entry_url": urls[0] if urls else "",
        "exit_url": urls[-1] if urls else "",
        "referrer": entry.get("referrer", ""),
        "utm_source": _utm(entry, "utm_source"),
        "utm_medium": _utm(entry, "utm_medium"),
        "utm_campaign": _utm(entry, "utm_campaign"),
        "country": entry.get("country", ""),
        "browser": entry.get("browser", ""),
        "os": entry.get("os", ""),
        "device_type": entry.get("device_type", ""),
    }


def page_of(url: str) -> str | None:
    """``$pathname``: the path of a URL without query and fragment; None when empty."""
    return urlsplit(url).path or None


def referrer_domain(referrer: str) -> str | None:
    """``$referring_domain``: the host of the referrer (``www.`` kept)."""
    return urlsplit(referrer).hostname or None


def with_derived_utm(row: dict[str, Any]) -> dict[str, Any]:
    """The row with the UTM keys as filters read them (property, else the URL's parameter)."""
    properties = dict(row.get("properties") or {})
    for name in UTM_KEYS:
        value = _utm(row, name)
        if value:
            properties[name] = value
        else:
            properties.pop(name, None)
    return {**row, "properties": properties}


UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")
