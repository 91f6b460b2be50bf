"""Request-level intake shared by the native and Segment endpoints.

Reading a bounded (optionally gzip) body, parsing JSON, resolving the write key,
the rate limit, and handing accepted rows to the bus. Every refusal raises
:class:`IntakeError` with the HTTP status, a code and a message, and is counted in
``ingest_requests_rejected_total`` by reason.
"""

from __future__ import annotations

import json
import time
import zlib
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest

from analytics.accounts.selectors import IngestionProject
from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from analytics.ingestion import live, metrics
from analytics.ingestion.enrichment import InvalidTimestamp, client_ip, parse_timestamp_ms, stored_ip
from analytics.ingestion.ratelimit import get_rate_limiter, retry_after_seconds
from analytics.ingestion.row_policy import apolicy_for
from analytics.ingestion.selectors import aevent_schemas_for_project, aproject_for_key
from analytics.ingestion.validation import RequestContext
from analytics.streams.bus import BusUnavailable, get_event_bus

log = get_logger(__name__)


class IntakeError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.extra = extra or {}
        metrics.REQUESTS_REJECTED.labels(reason=code).inc()


def too_large(limit: int, status: int = 413) -> IntakeError:
    return IntakeError(status, "payload_too_large", f"the body is larger than {limit} bytes")


def read_body(request: HttpRequest, *, limit: int, too_large_status: int = 413) -> bytes:
    """The request body, decompressed if gzip/deflate, never more than ``limit`` bytes
    in memory: a decompression bomb stops at ``limit`` + 1 bytes of output."""
    declared = request.META.get("CONTENT_LENGTH")
    if declared:
        try:
            if int(declared) > limit:
                raise too_large(limit, too_large_status)
        except ValueError:
            raise IntakeError(400, "invalid_request", "Content-Length is not a number") from None
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise too_large(limit, too_large_status)
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if not encoding or encoding == "identity":
        return raw
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS
    else:
        raise IntakeError(415, "unsupported_encoding", "Content-Encoding must be gzip, deflate or identity")
    decompressor = zlib.decompressobj(wbits)
    try:
        body = decompressor.decompress(raw, limit + 1)
    except zlib.error:
        raise IntakeError(400, "invalid_compression", f"the body is not valid {encoding} data") from None
    if len(body) > limit or decompressor.unconsumed_tail:
        raise IntakeError(too_large_status, "payload_too_large", f"the decompressed body is larger than {limit} bytes")
    if not decompressor.eof:
        raise IntakeError(400, "invalid_compression", f"the {encoding} body is truncated")
    return body


def parse_json(body: bytes) -> tuple[Any, bool]:
    """The payload, and whether it may hold unpaired surrogates (then check each event).

    orjson refuses an escaped lone surrogate (``"\\ud800"``) anywhere in the body, which would
    lose a whole batch for one bad string. Only for that refusal the body is parsed again by
    the stdlib, which keeps such strings, and validation rejects the events holding one
    (``validation.collect``). Valid input never leaves the orjson path.
    """
    if not body.strip():
        raise IntakeError(400, "empty_body", "the body is empty")
    try:
        return orjson.loads(body), False
    except orjson.JSONDecodeError as error:
        if "surrogate" in str(error):
            return _parse_keeping_surrogates(body, error), True
        # orjson's message names the position and the cause (truncated, depth...).
        raise IntakeError(400, "malformed_json", f"malformed JSON: {str(error)[:200]}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_keeping_surrogates(body: bytes, original: orjson.JSONDecodeError) -> Any:
    try:
        # As strict as orjson otherwise: UTF-8 only, no NaN/Infinity, nesting bounded by recursion.
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise IntakeError(400, "malformed_json", f"malformed JSON: {str(original)[:200]}") from None


async def resolve_project(write_key: Any) -> IngestionProject:
    if not isinstance(write_key, str) or not write_key:
        raise IntakeError(401, "missing_key", "a write key is required (X-Api-Key header or api_key field)")
    project = await aproject_for_key(write_key.strip())
    if project is None:
        raise IntakeError(401, "invalid_key", "the write key is not valid")
    return project


async def check_rate_limit(project: IngestionProject, events: int) -> None:
    limit = project.ingest_rate_limit or settings.INGEST_RATE_LIMIT_PER_SECOND
    if not await get_rate_limiter().allow(project.id, limit, events):
        metrics.EVENTS_REJECTED.labels(reason="rate_limited").inc(events)
        raise IntakeError(
            429,
            "rate_limited",
            f"the project's limit of {limit} events per second is exceeded",
            retry_after=retry_after_seconds(time.time()),
        )


def sent_at_ms(value: Any) -> int | None:
    """A request's ``sent_at``; an unusable one disables skew correction rather than failing."""
    if value is None:
        return None
    try:
        return parse_timestamp_ms(value)
    except InvalidTimestamp:
        return None


async def request_context(
    request: HttpRequest, project: IngestionProject, *, sent_at: Any, check_unicode: bool = False
) -> RequestContext:
    """Everything the events of one request share: receive time, IP, user agent, schemas,
    the project's privacy rules."""
    meta = request.META
    address = client_ip(meta.get("REMOTE_ADDR", "") or "", meta.get("HTTP_X_FORWARDED_FOR", ""))
    return RequestContext(
        project=project,
        received_at_ms=int(utc_now().timestamp() * 1000),
        sent_at_ms=sent_at_ms(sent_at),
        ip=stored_ip(address, keep_full_ip=project.keep_full_ip),
        user_agent=meta.get("HTTP_USER_AGENT", "")[:1024],
        schemas=await aevent_schemas_for_project(project.id),
        check_unicode=check_unicode,
        policy=await apolicy_for(project.id),
    )


async def publish(project: IngestionProject, rows: list[dict[str, Any]], *, endpoint: str) -> None:
    """Hand rows to the bus; only its acknowledgement makes them accepted."""
    if not rows:
        return
    try:
        await get_event_bus().publish(rows)
    except BusUnavailable as error:
        metrics.EVENTS_REJECTED.labels(reason="bus_unavailable").inc(len(rows))
        raise IntakeError(503, "unavailable", error.message, retry_after=error.retry_after) from None
    except Exception:
        # Whatever else went wrong, the events were not acknowledged: the client must retry.
        log.exception("ingest.publish.failed", project_id=project.id, rows=len(rows))
        metrics.EVENTS_REJECTED.labels(reason="bus_error").inc(len(rows))
        raise IntakeError(
            503, "unavailable", "the events could not be handed over; retry later", retry_after=5
        ) from None
    metrics.EVENTS_ACCEPTED.labels(endpoint=endpoint).inc(len(rows))
    live.notify(project.id, len(rows))
