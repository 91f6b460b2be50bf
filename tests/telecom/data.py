"""Deterministic provider messages and an independent computation of what the read API answers.

The expectations are plain Python over the messages as sent: the first message of each
``(source_id, event_id)`` pair counts, days and months are UTC unless a zone is named.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

TYPES = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
START = datetime(2025, 9, 25, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def actions(count: int, *, users: int = 5, seed: int = 7, days: int = 40) -> list[dict[str, Any]]:
    """``count`` valid messages over ``days`` days from START (across a month boundary), each
    at its own second; two sources, some sharing an event id (two distinct actions)."""
    rng = random.Random(seed)
    seconds = rng.sample(range(days * 86_400), count)
    out = []
    for index, second in enumerate(seconds):
        kind = rng.choice(TYPES)
        started = START + timedelta(seconds=second)
        source = "provider-1" if index % 3 else "provider-2"
        event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if index % 30 == 0 and index:
            # provider-2 reuses the id of provider-1's previous action: still two actions.
            event_id = out[index - 1]["event_id"]
        message: dict[str, Any] = {
            "event_id": event_id,
            "source_id": source,
            "user_id": f"4790000{index % users:03d}",
            "type": kind,
            "started_at": _iso(started),
            "meta": {"cell": f"C{index % 4}"},
        }
        if kind in ("CALL_OUT", "CALL_IN"):
            message["duration_sec"] = rng.randint(0, 600)
            message["ended_at"] = _iso(started + timedelta(seconds=message["duration_sec"] + rng.randint(0, 30)))
            message["bytes_up"] = message["bytes_down"] = 0
        elif kind == "DATA":
            message["duration_sec"] = rng.randint(1, 900)
            message["ended_at"] = _iso(started + timedelta(seconds=message["duration_sec"]))
            message["bytes_up"] = rng.randint(0, 10**6)
            message["bytes_down"] = rng.randint(0, 10**8)
        out.append(message)
    return out


def resent(messages: list[dict[str, Any]], every: int = 4) -> list[dict[str, Any]]:
    """Copies of some messages with another started_at (an hour later): the same actions."""
    copies = []
    for message in messages[::every]:
        copy = dict(message)
        later = datetime.fromisoformat(message["started_at"].replace("Z", "+00:00")) + timedelta(hours=1)
        copy["started_at"] = _iso(later)
        copy.pop("ended_at", None)
        copies.append(copy)
    return copies


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def unique(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for message in messages:
        seen.setdefault((message["source_id"], message["event_id"]), message)
    return list(seen.values())


def _in_range(messages: list[dict[str, Any]], start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [message for message in unique(messages) if start <= _moment(message["started_at"]) < end]


def _period(message: dict[str, Any], period: str, zone: str = "UTC") -> str:
    moment = _moment(message["started_at"]).astimezone(ZoneInfo(zone))
    return moment.strftime("%Y-%m-01") if period == "month" else moment.strftime("%Y-%m-%d")


def totals(
    messages: list[dict[str, Any]], period: str, *, with_users: bool = False, zone: str = "UTC"
) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"count": 0, "duration_sec": 0, "bytes_up": 0, "bytes_down": 0, "users": set()}
    )
    for message in messages:
        group = groups[(_period(message, period, zone), message["type"])]
        group["count"] += 1
        group["duration_sec"] += message.get("duration_sec") or 0
        group["bytes_up"] += message.get("bytes_up") or 0
        group["bytes_down"] += message.get("bytes_down") or 0
        group["users"].add(message["user_id"])
    out = []
    for (day, kind), group in sorted(groups.items()):
        row = {"date": day, "type": kind, **{k: v for k, v in group.items() if k != "users"}}
        if with_users:
            row["unique_users"] = len(group["users"])
        out.append(row)
    return out


def expected_detail(messages: list[dict[str, Any]], user_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    mine = [message for message in _in_range(messages, start, end) if message["user_id"] == user_id]
    mine.sort(key=lambda message: message["started_at"])
    return {
        "user_id": user_id,
        "actions": [
            (m["event_id"], m["source_id"], m["type"], m.get("duration_sec"), m.get("bytes_down")) for m in mine
        ],
        "totals": {"day": totals(mine, "day"), "month": totals(mine, "month")},
    }


def expected_aggregates(
    messages: list[dict[str, Any]], period: str, start: datetime, end: datetime, zone: str = "UTC"
) -> list[dict[str, Any]]:
    return totals(_in_range(messages, start, end), period, with_users=True, zone=zone)


def action_key(action: dict[str, Any]) -> tuple[Any, ...]:
    return (action["event_id"], action["source_id"], action["type"], action["duration_sec"], action["bytes_down"])
