"""How the pages write numbers, durations, changes and times (docs/pages.md, "Numbers").

- ``grouped``: thousands grouped, ``12,345``;
- ``short``: ``1.2k``, ``3.4M``, ``5.6B`` from 10,000 up (smaller numbers grouped);
- ``duration``: ``45s``, ``3m 12s``, ``2h 5m``;
- ``percent``: a share of 1 with one decimal, ``42.5%``;
- ``change``: the relative change of two values, ``{"text": "+12.3%", "direction": "up",
  "tone": "good"}`` (``"flat"`` when equal, ``"new"`` when the previous value was 0; the
  tone is "bad" for a rise of what should fall, such as the bounce rate);
- ``local_time``: epoch milliseconds in a time zone, ``2026-03-29 14:05``;
- ``bytes``: ``1.5 MB`` (decimal units).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import template

register = template.Library()

MISSING = "\u2013"  # an en dash: no value


@register.filter
def grouped(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return MISSING
    if number.is_integer():
        return f"{int(number):,}"
    return f"{number:,.1f}"


@register.filter
def short(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return MISSING
    magnitude = abs(number)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
        if magnitude >= limit:
            return f"{number / limit:.1f}".rstrip("0").rstrip(".") + suffix
    return grouped(number)


@register.filter
def duration(value: Any) -> str:
    try:
        seconds = round(float(value))
    except (TypeError, ValueError):
        return MISSING
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


@register.filter
def percent(value: Any) -> str:
    try:
        return f"{float(value) * 100:.1f}%"
    except (TypeError, ValueError):
        return MISSING


@register.simple_tag
def change(current: Any, previous: Any, lower_is_better: bool = False) -> dict[str, str]:
    try:
        now, before = float(current), float(previous)
    except (TypeError, ValueError):
        return {"text": "", "direction": "none"}
    if before == 0:
        return {"text": "new" if now else "", "direction": "new" if now else "none"}
    delta = (now - before) / before
    if abs(delta) < 0.0005:
        return {"text": "0.0%", "direction": "flat"}
    good = (delta < 0) if lower_is_better else (delta > 0)
    return {
        "text": f"{delta * 100:+.1f}%",
        "direction": "up" if delta > 0 else "down",
        "tone": "good" if good else "bad",
    }


@register.filter
def local_time(epoch_ms: Any, time_zone: str = "UTC") -> str:
    try:
        moment = datetime.fromtimestamp(int(epoch_ms) / 1000, tz=UTC)
        return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError, OverflowError, KeyError):
        return MISSING


@register.filter(name="bytes")
def bytes_(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return MISSING
    for limit, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if number >= limit:
            return f"{number / limit:.1f} {unit}"
    return f"{int(number)} B"


@register.filter
def share(value: Any, total: Any) -> float:
    """``value`` as a percentage of ``total`` (0..100) for drawing bars behind rows."""
    try:
        return round(100.0 * float(value) / float(total), 1) if float(total) else 0.0
    except (TypeError, ValueError):
        return 0.0
