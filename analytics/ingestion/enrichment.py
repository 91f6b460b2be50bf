"""Enrichment: what the server adds to an event before it is stored.

Receive time, clock-skew correction from the client's ``sent_at``, clamping of events
from the far future, browser/OS/device from the user agent (cached), the client's IP
(anonymised unless the project opts out), library name and version, and the typed
"hot" columns (url, referrer, session, country, revenue, ...).
"""

from __future__ import annotations

import ipaddress
import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from ua_parser import parse

FUTURE_LIMIT_MS = 23 * 3600 * 1000
# DateTime64(3) holds 1900..2299; we accept 1970..2200 and refuse the rest as garbage.
MIN_TIMESTAMP_MS = 0
MAX_TIMESTAMP_MS = 7_258_118_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
MAX_HOT_STRING = 2048


class InvalidTimestamp(ValueError):
    """A timestamp that is neither ISO-8601 nor epoch milliseconds in range."""


def parse_timestamp_ms(value: Any) -> int:
    """ISO-8601 text (``Z`` or an offset; naive means UTC) or epoch milliseconds -> epoch ms."""
    if isinstance(value, str):
        if not 10 <= len(value) <= 40:
            raise InvalidTimestamp("timestamp must be ISO-8601 or epoch milliseconds")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidTimestamp("timestamp must be ISO-8601 or epoch milliseconds") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            milliseconds = (moment - _EPOCH) // _ONE_MS
        except OverflowError:
            raise InvalidTimestamp("timestamp is out of range") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        milliseconds = value
    elif isinstance(value, float) and math.isfinite(value):
        milliseconds = int(value)
    else:
        raise InvalidTimestamp("timestamp must be ISO-8601 or epoch milliseconds")
    if not MIN_TIMESTAMP_MS <= milliseconds <= MAX_TIMESTAMP_MS:
        raise InvalidTimestamp("timestamp is out of range (1970 to 2200)")
    return milliseconds


def corrected_timestamp(raw_ms: int | None, *, received_at_ms: int, sent_at_ms: int | None) -> tuple[int, bool]:
    """Apply clock-skew correction and the future clamp. Returns (timestamp_ms, clamped).

    With ``sent_at`` the client's clock offset is known: timestamp = received_at -
    (sent_at - timestamp). Events still more than 23 hours ahead of the server are
    clamped to the receive time and flagged.
    """
    if raw_ms is None:
        return received_at_ms, False
    timestamp = raw_ms if sent_at_ms is None else received_at_ms - (sent_at_ms - raw_ms)
    if timestamp > received_at_ms + FUTURE_LIMIT_MS:
        return received_at_ms, True
    if timestamp < MIN_TIMESTAMP_MS:
        # A wildly wrong sent_at can push the corrected time before 1970; fall back to the raw one.
        return raw_ms, False
    return timestamp, False


# ------------------------------------------------------------------ user agent
_BOT_FAMILIES = {"Spider", "Bot"}


@lru_cache(maxsize=8192)
def parse_user_agent(user_agent: str) -> tuple[str, str, str, str, str]:
    """(browser, browser_version, os, os_version, device_type); cached because parsing a
    user agent costs about a millisecond and a handful of agents send most events."""
    if not user_agent:
        return ("", "", "", "", "")
    result = parse(user_agent[:1024])
    agent, system, device = result.user_agent, result.os, result.device
    browser = agent.family if agent and agent.family != "Other" else ""
    browser_version = ".".join(part for part in (agent.major, agent.minor) if part) if agent else ""
    os_name = system.family if system and system.family != "Other" else ""
    os_version = ".".join(part for part in (system.major, system.minor) if part) if system else ""
    family = device.family if device else ""
    lowered = user_agent.lower()
    if family in _BOT_FAMILIES or "bot" in lowered or "spider" in lowered or "crawl" in lowered:
        device_type = "Bot"
    elif "ipad" in lowered or "tablet" in lowered or (os_name == "Android" and "mobile" not in lowered):
        device_type = "Tablet"
    elif "mobi" in lowered or "iphone" in lowered or os_name in ("iOS", "Android"):
        device_type = "Mobile"
    elif browser or os_name:
        device_type = "Desktop"
    else:
        device_type = ""
    return (browser, browser_version, os_name, os_version, device_type)


# ------------------------------------------------------------------ IP addresses
@lru_cache(maxsize=1)
def _trusted_networks(raw: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in raw if item.strip())


@lru_cache(maxsize=4096)
def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    if address is None:
        return False
    return any(address in network for network in _trusted_networks(tuple(settings.TRUSTED_PROXIES)))


def client_ip(remote_addr: str, forwarded_for: str) -> str:
    """The client's address, never taken from a header an untrusted peer could forge.

    With ``settings.TRUSTED_PROXIES`` (IPs/CIDRs): ``X-Forwarded-For`` counts only when
    the peer is one of them, and the right-most address that is not itself a trusted
    proxy is the client. Without it, the house-wide ``TRUSTED_PROXY_COUNT`` applies
    (the n-th address from the right); by default the peer.
    """
    peer = _parse_ip(remote_addr) if remote_addr else None
    if not forwarded_for:
        return str(peer) if peer else ""
    if settings.TRUSTED_PROXIES:
        if not _is_trusted(peer):
            return str(peer) if peer else ""
        for hop in reversed(forwarded_for.split(",")[-20:]):
            address = _parse_ip(hop)
            if address is None:
                break
            if not _is_trusted(address):
                return str(address)
        return str(peer)
    proxies = int(settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0)
    if proxies <= 0:
        return str(peer) if peer else ""
    hops = [hop for hop in forwarded_for.split(",") if hop.strip()]
    address = _parse_ip(hops[-min(proxies, len(hops))]) if hops else None
    return str(address or peer or "")


@lru_cache(maxsize=65536)
def anonymise_ip(text: str) -> str:
    """IPv4: zero the last octet. IPv6: keep the first 48 bits (zero the last 80)."""
    address = _parse_ip(text) if text else None
    if address is None:
        return ""
    if address.version == 4:
        return str(ipaddress.ip_network(f"{address}/24", strict=False).network_address)
    return str(ipaddress.ip_network(f"{address}/48", strict=False).network_address)


def stored_ip(text: str, *, keep_full_ip: bool) -> str:
    if not text:
        return ""
    if keep_full_ip:
        address = _parse_ip(text)
        return str(address) if address else ""
    return anonymise_ip(text)


# ------------------------------------------------------------------ hot columns
def hot_string(properties: dict[str, Any], *names: str) -> str:
    """The first of ``names`` that holds a string (numbers are accepted as text)."""
    for name in names:
        value = properties.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return value[:MAX_HOT_STRING]
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return ""


def hot_number(properties: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = properties.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number):
                return number
        elif isinstance(value, str) and value:
            try:
                number = float(value)
            except ValueError:
                continue
            if math.isfinite(number):
                return number
    return None
