"""Network actions in the telecom providers' own shape -> stored network-action events.

A provider's message (HTTP ``POST /api/v1/network-actions`` or the Kafka source topic)::

    {"event_id": "550e8400-...", "source_id": "provider-1", "user_id": "123456789",
     "type": "CALL_OUT", "started_at": "2025-10-20T12:34:56Z", "ended_at": "2025-10-20T12:56:00Z",
     "duration_sec": 127, "bytes_up": 0, "bytes_down": 0, "meta": {"cell": "A1"}}

is stored as the event the telecom views read (the ready telecom schema,
``services.TELECOM_SCHEMAS``): ``event`` = ``type``, ``distinct_id`` = ``user_id``,
``source_id`` kept, ``timestamp`` = ``started_at``, and the properties ``duration_sec``,
``bytes_up``, ``bytes_down``, ``started_at``, ``ended_at`` (ISO-8601 UTC, milliseconds) and
``meta`` (those present). The event's identity is ``(project, source_id, event_id)``
(``warehouse/once.py``): the same pair is stored once whatever the path and timestamp,
and two providers that reuse one ``event_id`` stay two actions.

Validation per type, each refusal with its reason code and message:

- ``invalid_type``: ``type`` is one of CALL_OUT, CALL_IN, SMS_SENT, SMS_RECEIVED, DATA;
- ``missing_user_id`` / ``missing_source_id``: non-empty strings (numbers accepted);
- ``missing_started_at`` / ``invalid_started_at`` / ``invalid_ended_at``: ISO-8601 or epoch ms;
- ``ended_before_started``: ``ended_at`` >= ``started_at``;
- ``invalid_duration``: a number >= 0;
- ``inconsistent_duration``: with both times, ``duration_sec`` at most ``ended_at -
  started_at`` plus :data:`DURATION_TOLERANCE_SEC` (the interval may also hold ringing or
  set-up time, so a shorter duration is consistent; a longer one is not);
- ``missing_duration``: calls carry ``duration_sec``; ``sms_with_duration``: SMS carry none
  (absent, null or 0); ``missing_bytes``: DATA carries ``bytes_up`` and ``bytes_down``;
- ``invalid_bytes``: ``bytes_*`` integers >= 0;
- ``invalid_meta`` / ``meta_too_large``: ``meta`` an object of at most :data:`MAX_META_BYTES`
  bytes of JSON.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date
from typing import Any

import orjson

from analytics.ingestion import metrics
from analytics.ingestion.enrichment import InvalidTimestamp, parse_timestamp_ms
from analytics.ingestion.validation import (
    MAX_NAME_LENGTH,
    BatchResult,
    EventRejected,
    RequestContext,
    build_row,
    check_name,
    reject_unpaired_surrogates,
)

NETWORK_ACTION_TYPES = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
CALL_TYPES = frozenset({"CALL_OUT", "CALL_IN"})
SMS_TYPES = frozenset({"SMS_SENT", "SMS_RECEIVED"})
MAX_META_BYTES = 4096
# Clocks of the switch and of the billing system differ by a second or so.
DURATION_TOLERANCE_SEC = 2.0
LIB = "network-actions"
_TYPES = frozenset(NETWORK_ACTION_TYPES)


def _required_name(item: dict[str, Any], field_name: str) -> str:
    value = item.get(field_name)
    if type(value) is str and 0 < len(value) <= MAX_NAME_LENGTH and value.isprintable():
        return value  # the common case, without the general check's calls
    if value is None or value == "":
        raise EventRejected(f"missing_{field_name}", f"{field_name} is required and must not be empty")
    try:
        return check_name(value, field_name)
    except EventRejected as error:
        raise EventRejected(f"invalid_{field_name}", error.message) from None


_DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Per-day cache of the date text: a stream's actions fall on few distinct days.
_DAY_TEXT: dict[int, str] = {}
_CACHE_LIMIT = 100_000


def _moment_ms(value: Any, field_name: str) -> int:
    try:
        return parse_timestamp_ms(value)
    except InvalidTimestamp as error:
        message = str(error).replace("timestamp", field_name, 1)
        raise EventRejected(f"invalid_{field_name}", message) from None


# UTC text already in the stored form, or without its milliseconds: what providers send. Its
# stored text is known without formatting the parsed time again (a share of the per-message
# cost of the Kafka stream); any other form is formatted from the parsed milliseconds.
_CANONICAL_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?Z")


def _moment(value: Any, field_name: str) -> tuple[int, str]:
    """Epoch milliseconds of a time and its stored ISO-8601 text (UTC, milliseconds)."""
    milliseconds = _moment_ms(value, field_name)
    if type(value) is str and _CANONICAL_UTC.fullmatch(value):
        return milliseconds, value if len(value) == 24 else value[:19] + ".000Z"
    return milliseconds, _iso(milliseconds)


def _iso(milliseconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.fffZ`` of epoch milliseconds (>= 0)."""
    day, rest = divmod(milliseconds, _DAY_MS)
    day_text = _DAY_TEXT.get(day)
    if day_text is None:
        day_text = date.fromordinal(day + _EPOCH_ORDINAL).isoformat()
        if len(_DAY_TEXT) > _CACHE_LIMIT:
            _DAY_TEXT.clear()
        _DAY_TEXT[day] = day_text
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    return f"{day_text}T{hours:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


def _number(value: Any, field_name: str) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EventRejected("invalid_duration", f"{field_name} must be a number")
    if value < 0:
        raise EventRejected("invalid_duration", f"{field_name} must be >= 0")
    return value


def _bytes(value: Any, field_name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise EventRejected("invalid_bytes", f"{field_name} must be an integer")
    if value < 0:
        raise EventRejected("invalid_bytes", f"{field_name} must be >= 0")
    return value


def _meta(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise EventRejected("invalid_meta", "meta must be a JSON object")
    try:
        size = len(orjson.dumps(value))
    except (orjson.JSONEncodeError, TypeError):
        raise EventRejected("invalid_meta", "meta must be a JSON object") from None
    if size > MAX_META_BYTES:
        raise EventRejected("meta_too_large", f"meta must be at most {MAX_META_BYTES} bytes of JSON (it has {size})")
    return value


def _check_kind(kind: str, duration: float | int | None, up: int | None, down: int | None) -> None:
    """What each type must (not) carry."""
    if kind in CALL_TYPES and duration is None:
        raise EventRejected("missing_duration", f"{kind} must carry duration_sec")
    if kind in SMS_TYPES and duration:
        raise EventRejected("sms_with_duration", f"{kind} must not carry a duration (duration_sec absent, null or 0)")
    if kind == "DATA" and (up is None or down is None):
        raise EventRejected("missing_bytes", "DATA must carry bytes_up and bytes_down")


def _check_times(item: dict[str, Any], duration: float | int | None) -> tuple[int, str, str | None]:
    """``started_at`` in epoch ms, and the stored texts of both times."""
    if item.get("started_at") in (None, ""):
        raise EventRejected("missing_started_at", "started_at is required")
    started, started_text = _moment(item["started_at"], "started_at")
    if item.get("ended_at") in (None, ""):
        return started, started_text, None
    ended, ended_text = _moment(item["ended_at"], "ended_at")
    if ended < started:
        raise EventRejected("ended_before_started", "ended_at must not be before started_at")
    span = (ended - started) / 1000
    if duration is not None and duration > span + DURATION_TOLERANCE_SEC:
        raise EventRejected(
            "inconsistent_duration",
            f"duration_sec ({duration}) is longer than ended_at - started_at ({span:g} s) "
            f"by more than {DURATION_TOLERANCE_SEC:g} s",
        )
    return started, started_text, ended_text


def network_action_properties(item: Any) -> tuple[str, str, str, int, dict[str, Any]]:
    """Validate one provider message: ``(type, user_id, source_id, started_ms, properties)``.

    Raises :class:`EventRejected` with the reason of the first rule it breaks.
    """
    if type(item) is not dict:
        raise EventRejected("invalid_event", "each network action must be a JSON object")
    kind = item.get("type")
    if kind not in _TYPES:
        raise EventRejected("invalid_type", f"type must be one of {', '.join(NETWORK_ACTION_TYPES)}")
    user_id = _required_name(item, "user_id")
    source_id = _required_name(item, "source_id")
    duration = _number(item.get("duration_sec"), "duration_sec")
    up = _bytes(item.get("bytes_up"), "bytes_up")
    down = _bytes(item.get("bytes_down"), "bytes_down")
    meta = _meta(item.get("meta"))
    started, started_text, ended_text = _check_times(item, duration)
    _check_kind(kind, duration, up, down)
    properties: dict[str, Any] = {"started_at": started_text}
    if ended_text is not None:
        properties["ended_at"] = ended_text
    for name, value in (("duration_sec", duration), ("bytes_up", up), ("bytes_down", down), ("meta", meta)):
        if value is not None:
            properties[name] = value
    return kind, user_id, source_id, started, properties


def network_action_row(context: RequestContext, item: Any) -> dict[str, Any]:
    """The stored event row of one provider message (see the module docstring)."""
    kind, user_id, source_id, started, properties = network_action_properties(item)
    return build_row(
        context,
        event=kind,
        distinct_id=user_id,
        raw_timestamp=started,
        client_event_id=item.get("event_id"),
        source_id=source_id,
        properties=properties,
        # The stream's context already says LIB: passing none spares build_row rewriting the
        # columns a request's context sets (HTTP: the request's lib is replaced by LIB).
        lib=None if context.lib == LIB else LIB,
    )


def network_action_rows(context: RequestContext, items: Iterable[Any]) -> BatchResult:
    """The rows of the valid messages; each refused one as ``{"index", "reason", "error"}``."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            if context.check_unicode:
                reject_unpaired_surrogates(item)
            rows.append(network_action_row(context, item))
        except EventRejected as error:
            metrics.EVENTS_REJECTED.labels(reason=error.reason).inc()
            rejected.append({"index": index, "reason": error.reason, "error": error.message})
    return BatchResult(rows=rows, rejected=rejected)
