"""The Segment HTTP Tracking API format, mapped onto our events.

track -> the named event; identify -> ``$identify`` (traits become ``$set``, an
anonymousId next to a userId merges the two); page -> ``$pageview``; screen ->
``$screen``; group -> ``$groupidentify``; alias -> ``$create_alias`` (previousId merges
into userId). ``messageId`` is the event id, ``context`` feeds enrichment.
"""

from __future__ import annotations

from typing import Any

import orjson

from analytics.ingestion.enrichment import InvalidTimestamp, parse_timestamp_ms
from analytics.ingestion.validation import BatchResult, EventRejected, RequestContext, build_row, check_name, collect

SEGMENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
SOURCE_ID = "segment"


def _dict(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _event_of_kind(
    kind: str,
    message: dict[str, Any],
    properties: dict[str, Any],
    traits: dict[str, Any],
    segment_context: dict[str, Any],
) -> str:
    """The event a message of ``kind`` becomes; adds what the kind implies to ``properties``."""
    if kind == "track":
        return check_name(message.get("event"), "event")
    user_id = message.get("userId")
    if kind == "identify":
        anonymous_id = message.get("anonymousId")
        traits = traits or _dict(segment_context.get("traits"))
        if traits:
            properties["$set"] = traits
        if user_id not in (None, "") and anonymous_id not in (None, "") and anonymous_id != user_id:
            properties["$anon_distinct_id"] = check_name(anonymous_id, "anonymousId")
        return "$identify"
    if kind == "page":
        if message.get("name") is not None:
            properties.setdefault("name", message.get("name"))
        return "$pageview"
    if kind == "screen":
        if message.get("name") is not None:
            properties.setdefault("$screen_name", message.get("name"))
        return "$screen"
    if kind == "group":
        properties["$group_id"] = check_name(message.get("groupId"), "groupId")
        if traits:
            properties["$group_set"] = traits
        return "$groupidentify"
    # alias
    if user_id in (None, ""):
        raise EventRejected("missing_distinct_id", "alias needs a userId")
    properties["alias"] = check_name(message.get("previousId"), "previousId")
    return "$create_alias"


def segment_message_row(context: RequestContext, message: Any, kind: str | None = None) -> dict[str, Any]:
    """One Segment message (of ``kind``, or of its own ``type`` inside /v1/batch)."""
    if type(message) is not dict:
        raise EventRejected("invalid_event", "each message must be a JSON object")
    kind = kind or message.get("type")
    if kind not in SEGMENT_TYPES:
        raise EventRejected("invalid_type", f"type must be one of {', '.join(SEGMENT_TYPES)}")
    if len(orjson.dumps(message)) > context.max_event_bytes:
        raise EventRejected("event_too_large", f"message is larger than {context.max_event_bytes} bytes")

    user_id = message.get("userId")
    anonymous_id = message.get("anonymousId")
    if user_id in (None, "") and anonymous_id in (None, ""):
        raise EventRejected("missing_distinct_id", "userId or anonymousId is required")
    distinct_id = check_name(user_id if user_id not in (None, "") else anonymous_id, "distinct_id")

    properties = dict(_dict(message.get("properties")))
    traits = _dict(message.get("traits"))
    segment_context = _dict(message.get("context"))
    page = _dict(segment_context.get("page"))

    event = _event_of_kind(kind, message, properties, traits, segment_context)

    url = _text(properties.get("url")) or _text(page.get("url"))
    if url:
        properties.setdefault("$current_url", url)
    referrer = _text(properties.get("referrer")) or _text(page.get("referrer"))
    if referrer:
        properties.setdefault("$referrer", referrer)
    for source, target in (
        (_dict(segment_context.get("os")).get("name"), "$os"),
        (_dict(segment_context.get("device")).get("type"), "$device_type"),
    ):
        if isinstance(source, str) and source:
            properties.setdefault(target, source)
    library = _dict(segment_context.get("library"))

    sent_at_ms = None
    if message.get("sentAt") is not None:
        try:
            sent_at_ms = parse_timestamp_ms(message["sentAt"])
        except InvalidTimestamp as error:
            raise EventRejected("invalid_timestamp", f"sentAt: {error}") from None
    timestamp = message.get("timestamp")
    if timestamp is None:
        timestamp = message.get("originalTimestamp")
    return build_row(
        context,
        event=event,
        distinct_id=distinct_id,
        raw_timestamp=timestamp,
        client_event_id=message.get("messageId"),
        source_id=SOURCE_ID,
        properties=properties,
        user_agent=_text(segment_context.get("userAgent"))[:1024] or None,
        ip=_text(segment_context.get("ip")) or None,
        lib=_text(library.get("name"))[:200] or None,
        lib_version=_text(library.get("version"))[:200] or None,
        country=_text(_dict(segment_context.get("location")).get("country"))[:64],
        sent_at_ms=sent_at_ms,
    )


def segment_rows(context: RequestContext, messages: list[Any], kind: str | None = None) -> BatchResult:
    if kind is None:
        return collect(context, messages, segment_message_row)
    return collect(context, messages, lambda ctx, message: segment_message_row(ctx, message, kind))
