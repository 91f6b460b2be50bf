"""Validation and enrichment of events: one function per wire format, one row builder.

Views, the Segment endpoints and the demo loader all go through :func:`native_rows`
and :func:`segment_rows`; only what happens to the rows afterwards (the bus) differs.
A bad event raises :class:`EventRejected` internally and becomes one entry of the
``rejected`` list; its neighbours are still accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings

from analytics.accounts.selectors import IngestionProject
from analytics.ingestion import metrics
from analytics.ingestion.enrichment import (
    MAX_TIMESTAMP_MS,
    MIN_TIMESTAMP_MS,
    InvalidTimestamp,
    corrected_timestamp,
    hot_number,
    hot_string,
    parse_timestamp_ms,
    parse_user_agent,
    stored_ip,
)
from analytics.ingestion.row_policy import RowPolicy
from analytics.ingestion.schema_checks import CompiledSchema
from analytics.warehouse.identity import event_id_from_client, event_id_from_content, person_id_for

MAX_NAME_LENGTH = 200
DEFAULT_LIB = "http"
_DAY_MS = 86_400_000
_HOT_KEYS = frozenset(
    {
        "$user_agent",
        "$useragent",
        "$session_id",
        "$current_url",
        "url",
        "$referrer",
        "referrer",
        "revenue",
        "$revenue",
        "$country",
        "$geoip_country_code",
        "$lib",
        "$lib_version",
        "$ip",
        "$browser",
        "$os",
        "$device_type",
    }
)
_NO_KEYS: frozenset[str] = frozenset()
_NO_AGENT = ("", "", "", "", "")


class EventRejected(Exception):
    """One event of a request is refused; ``reason`` labels the metric."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class RequestContext:
    """What every event of one request shares."""

    project: IngestionProject
    received_at_ms: int
    sent_at_ms: int | None = None
    ip: str = ""
    user_agent: str = ""
    lib: str = DEFAULT_LIB
    lib_version: str = ""
    schemas: dict[str, CompiledSchema] = field(default_factory=dict)
    max_event_bytes: int = 0
    # The body held an unpaired surrogate (intake.parse_json): check each event for one.
    check_unicode: bool = False
    # The project's privacy rules (row_policy.py): None when it has none, the common case.
    policy: RowPolicy | None = None
    # A row with what the request's events share, in column order; each row starts as a copy.
    # Copying it and setting a few keys is several times cheaper than a 26-key dict literal,
    # which grows its hash table step by step (a large share of the per-event cost).
    row_template: dict[str, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.max_event_bytes:
            self.max_event_bytes = settings.INGEST_MAX_EVENT_BYTES
        self.row_template = {
            "project_id": self.project.id,
            "event_id": "",
            "event": "",
            "distinct_id": "",
            "person_id": "",
            "session_id": "",
            "timestamp": 0,
            "received_at": self.received_at_ms,
            "sent_at": self.sent_at_ms,
            "source_id": "",
            "lib": self.lib[:MAX_NAME_LENGTH],
            "lib_version": self.lib_version[:MAX_NAME_LENGTH],
            "properties": "",
            "url": "",
            "referrer": "",
            "browser": "",
            "browser_version": "",
            "os": "",
            "os_version": "",
            "device_type": "",
            "country": "",
            "ip": self.ip,
            "revenue": None,
            "flags": [],
            "retention_days": self.project.retention_days,
        }


@dataclass(slots=True)
class BatchResult:
    rows: list[dict[str, Any]]
    rejected: list[dict[str, Any]]


def check_name(value: Any, field_name: str) -> str:
    """An event name or id: a non-empty string (numbers accepted), at most 200 characters,
    without control characters such as NUL."""
    if type(value) is str and 0 < len(value) <= MAX_NAME_LENGTH and value.isprintable():
        return value  # the common case, in three cheap tests
    if isinstance(value, str):
        text = value
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif value is None:
        raise EventRejected(f"missing_{field_name}", f"{field_name} is required")
    else:
        raise EventRejected(f"invalid_{field_name}", f"{field_name} must be a string")
    if not text or len(text) > MAX_NAME_LENGTH:
        raise EventRejected(f"invalid_{field_name}", f"{field_name} must be 1 to {MAX_NAME_LENGTH} characters")
    if not text.isprintable() and any(ord(char) < 32 for char in text):
        raise EventRejected(f"invalid_{field_name}", f"{field_name} must not contain control characters")
    return text


def optional_name(value: Any, field_name: str) -> str:
    return "" if value is None or value == "" else check_name(value, field_name)


def _dump_properties(properties: dict[str, Any], limit: int) -> bytes:
    try:
        encoded = orjson.dumps(properties)
    except (orjson.JSONEncodeError, TypeError):
        raise EventRejected("invalid_properties", "properties are nested too deeply or not JSON") from None
    if len(encoded) > limit:
        raise EventRejected("event_too_large", f"event is larger than {limit} bytes")
    return encoded


# The per-event hot path: the hot-key lookups stay inline, a flat run of independent
# "key present: take it" tests, because a helper call per event costs more than each test.
def build_row(  # noqa: C901
    context: RequestContext,
    *,
    event: str,
    distinct_id: str,
    raw_timestamp: Any,
    client_event_id: Any,
    source_id: str,
    properties: dict[str, Any],
    user_agent: str | None = None,
    ip: str | None = None,
    lib: str | None = None,
    lib_version: str | None = None,
    country: str = "",
    sent_at_ms: int | None = None,
) -> dict[str, Any]:
    """Validate against the project's schema, enrich, and return the event row."""
    project = context.project
    schema = context.schemas.get(event) if context.schemas else None
    if schema is not None:
        violation = schema.violation(properties)
        if violation is not None:
            raise EventRejected("schema_violation", violation)
    properties_json = _dump_properties(properties, context.max_event_bytes - len(event) - len(distinct_id))

    raw_ms = None
    if type(raw_timestamp) is int and MIN_TIMESTAMP_MS <= raw_timestamp <= MAX_TIMESTAMP_MS:
        raw_ms = raw_timestamp  # epoch milliseconds in range: what parse_timestamp_ms would return
    elif raw_timestamp is not None:
        try:
            raw_ms = parse_timestamp_ms(raw_timestamp)
        except InvalidTimestamp as error:
            raise EventRejected("invalid_timestamp", str(error)) from None
    if sent_at_ms is None:
        sent_at_ms = context.sent_at_ms
    timestamp_ms, clamped = corrected_timestamp(raw_ms, received_at_ms=context.received_at_ms, sent_at_ms=sent_at_ms)
    if timestamp_ms < context.received_at_ms - project.retention_days * _DAY_MS:
        # The store's TTL would drop it at once; say so instead of answering "accepted".
        raise EventRejected(
            "too_old", f"timestamp is older than the project's retention ({project.retention_days} days)"
        )

    if client_event_id is not None and client_event_id != "":
        event_id = event_id_from_client(project.id, check_name(client_event_id, "event_id"))
    else:
        event_id = event_id_from_content(
            project.id,
            source_id,
            event,
            distinct_id,
            "" if raw_timestamp is None else str(raw_timestamp),
            properties_json,
        )

    # Most events carry none or few of the hot keys: look only at those present (C-level set operations).
    present = _NO_KEYS if not properties or _HOT_KEYS.isdisjoint(properties) else _HOT_KEYS.intersection(properties)
    agent = user_agent or context.user_agent
    session_id = url = referrer = ""
    revenue = None
    if present:
        if "$user_agent" in present or "$useragent" in present:
            agent = user_agent or hot_string(properties, "$user_agent", "$useragent") or context.user_agent
        if "$session_id" in present:
            session_id = hot_string(properties, "$session_id")
        if "$current_url" in present or "url" in present:
            url = hot_string(properties, "$current_url", "url")
        if "$referrer" in present or "referrer" in present:
            referrer = hot_string(properties, "$referrer", "referrer")
        if "revenue" in present or "$revenue" in present:
            revenue = hot_number(properties, "revenue", "$revenue")
        if not country and ("$country" in present or "$geoip_country_code" in present):
            country = hot_string(properties, "$country", "$geoip_country_code")
        if not lib and "$lib" in present:
            lib = hot_string(properties, "$lib")
        if not lib_version and "$lib_version" in present:
            lib_version = hot_string(properties, "$lib_version")
        if not ip and "$ip" in present:
            ip = hot_string(properties, "$ip")
    browser, browser_version, os_name, os_version, device_type = parse_user_agent(agent) if agent else _NO_AGENT
    if not browser and present:
        browser = hot_string(properties, "$browser")
        os_name = os_name or hot_string(properties, "$os")
        device_type = device_type or hot_string(properties, "$device_type")

    row = context.row_template.copy()
    row["event_id"] = event_id
    row["event"] = event
    row["distinct_id"] = distinct_id
    row["person_id"] = person_id_for(project.id, distinct_id)
    row["timestamp"] = timestamp_ms
    row["sent_at"] = sent_at_ms
    row["source_id"] = source_id
    row["properties"] = properties_json.decode()
    row["flags"] = ["future_clamped"] if clamped else []  # a list of its own: never the template's
    if present or agent or lib or lib_version or country or ip:  # anything else differs from the template
        row.update(
            {
                "session_id": session_id,
                "lib": (lib or context.lib)[:MAX_NAME_LENGTH],
                "lib_version": (lib_version or context.lib_version)[:MAX_NAME_LENGTH],
                "url": url,
                "referrer": referrer,
                "browser": browser,
                "browser_version": browser_version,
                "os": os_name,
                "os_version": os_version,
                "device_type": device_type,
                "country": country[:64],
                "ip": stored_ip(ip, keep_full_ip=project.keep_full_ip) if ip else context.ip,
                "revenue": revenue,
            }
        )
    return row


# ------------------------------------------------------------------ native format
def native_event_row(context: RequestContext, item: Any) -> dict[str, Any]:
    """``{"event", "distinct_id"|"user_id", "timestamp"?, "event_id"?, "source_id"?, "properties"?}``."""
    if type(item) is not dict:
        raise EventRejected("invalid_event", "each event must be a JSON object")
    event = check_name(item.get("event"), "event")
    distinct = item.get("distinct_id")
    if distinct is None:
        distinct = item.get("user_id")
    distinct_id = check_name(distinct, "distinct_id")
    properties = item.get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict:
        raise EventRejected("invalid_properties", "properties must be a JSON object")
    return build_row(
        context,
        event=event,
        distinct_id=distinct_id,
        raw_timestamp=item.get("timestamp"),
        client_event_id=item.get("event_id"),
        source_id=optional_name(item.get("source_id"), "source_id"),
        properties=properties,
    )


def reject_unpaired_surrogates(item: Any) -> None:
    """Reject an event holding a string with an unpaired UTF-16 surrogate (not storable text)."""
    try:
        orjson.dumps(item)
    except TypeError as error:  # orjson.JSONEncodeError; deep nesting is left to the row checks
        if "surrogate" in str(error):
            raise EventRejected(
                "invalid_unicode", "the event holds a string with an unpaired UTF-16 surrogate (\\ud800-\\udfff)"
            ) from None


def _unicode_checked(to_row: Any) -> Any:
    def checked(context: RequestContext, item: Any) -> dict[str, Any]:
        reject_unpaired_surrogates(item)
        return to_row(context, item)

    return checked


def collect(context: RequestContext, items: Iterable[Any], to_row: Any) -> BatchResult:
    """Run ``to_row`` over a request's events, keeping the good ones and the errors of the bad."""
    if context.check_unicode:
        to_row = _unicode_checked(to_row)
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            rows.append(to_row(context, item))
        except EventRejected as error:
            metrics.EVENTS_REJECTED.labels(reason=error.reason).inc()
            rejected.append({"index": index, "error": error.message})
    if context.policy is not None and rows:
        valid = len(rows)
        rows = context.policy.apply(rows)
        if len(rows) < valid:  # suppressed ids: dropped silently, the sender cannot act on it
            metrics.EVENTS_REJECTED.labels(reason="suppressed").inc(valid - len(rows))
    return BatchResult(rows=rows, rejected=rejected)


def native_rows(context: RequestContext, items: Iterable[Any]) -> BatchResult:
    return collect(context, items, native_event_row)
