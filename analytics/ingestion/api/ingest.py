"""The ingestion endpoints: native ``POST /api/v1/events`` and the Segment-compatible
``POST /v1/{track,identify,page,screen,group,alias,batch}``.

Plain async Django views, not DRF: this is the hot path, and every microsecond per
request counts. They parse, call the intake/pipeline functions, and answer.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from analytics.ingestion import metrics
from analytics.ingestion.intake import (
    IntakeError,
    check_rate_limit,
    parse_json,
    publish,
    read_body,
    request_context,
    resolve_project,
)
from analytics.ingestion.network_actions import network_action_rows
from analytics.ingestion.segment import SEGMENT_TYPES, segment_rows
from analytics.ingestion.validation import BatchResult, native_rows

# The Segment HTTP Tracking API's own limits: 32 KB per call, 500 KB per batch.
SEGMENT_MAX_CALL_BYTES = 32 * 1024
SEGMENT_MAX_BATCH_BYTES = 500 * 1024


def _json(status: int, payload: Any, retry_after: int | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(payload), content_type="application/json", status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _error(error: IntakeError) -> HttpResponse:
    return _json(
        error.status,
        {"error": {"code": error.code, "message": error.message, **error.extra}},
        retry_after=error.retry_after,
    )


def _guarded(
    endpoint: str,
) -> Callable[[Callable[..., Awaitable[HttpResponse]]], Callable[..., Awaitable[HttpResponse]]]:
    def decorate(handler: Callable[..., Awaitable[HttpResponse]]) -> Callable[..., Awaitable[HttpResponse]]:
        async def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.method != "POST":
                metrics.REQUESTS_REJECTED.labels(reason="method_not_allowed").inc()
                response = _json(405, {"error": {"code": "method_not_allowed", "message": "use POST"}})
                response["Allow"] = "POST, OPTIONS"
                return response
            started = time.perf_counter()
            try:
                return await handler(request, *args, **kwargs)
            except IntakeError as error:
                return _error(error)
            finally:
                metrics.REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)

        view.__name__ = handler.__name__
        view.__doc__ = handler.__doc__
        return csrf_exempt(view)

    return decorate


def _answer(result: BatchResult, *, success_status: int, segment: bool = False) -> HttpResponse:
    accepted = len(result.rows)
    if accepted == 0 and result.rejected:
        message = result.rejected[0]["error"] if len(result.rejected) == 1 else "no event of the batch is valid"
        code = "invalid_event" if len(result.rejected) == 1 else "invalid_events"
        return _json(400, {"error": {"code": code, "message": message, "rejected": result.rejected}})
    body: dict[str, Any] = {"accepted": accepted, "rejected": result.rejected}
    if segment:
        body = {"success": True, **body}
    return _json(success_status, body)


@_guarded("native")
async def events_view(request: HttpRequest) -> HttpResponse:
    """``POST /api/v1/events``: one event, or ``{"batch": [...], "sent_at": ...}``."""
    payload, check_unicode = parse_json(read_body(request, limit=settings.INGEST_MAX_BODY_BYTES))
    if type(payload) is dict:
        if "batch" in payload:
            items = payload["batch"]
            if type(items) is not list:
                raise IntakeError(400, "invalid_batch", "batch must be a list of events")
        else:
            items = [payload]
        write_key = request.META.get("HTTP_X_API_KEY") or payload.get("api_key")
        sent_at = payload.get("sent_at")
    elif type(payload) is list:
        items, write_key, sent_at = payload, request.META.get("HTTP_X_API_KEY"), None
    else:
        raise IntakeError(400, "invalid_body", 'the body must be an event object or {"batch": [...]}')
    project = await resolve_project(write_key)
    if not items:
        raise IntakeError(400, "empty_batch", "the batch has no events")
    if len(items) > settings.INGEST_MAX_BATCH:
        raise IntakeError(413, "batch_too_large", f"at most {settings.INGEST_MAX_BATCH} events per request")
    await check_rate_limit(project, len(items))
    context = await request_context(request, project, sent_at=sent_at, check_unicode=check_unicode)
    result = native_rows(context, items)
    await publish(project, result.rows, endpoint="native")
    return _answer(result, success_status=202)


@_guarded("network_actions")
async def network_actions_view(request: HttpRequest) -> HttpResponse:
    """``POST /api/v1/network-actions``: one provider message, or ``{"batch": [...]}``
    (analytics/ingestion/network_actions.py); the answers of ``POST /api/v1/events``."""
    payload, check_unicode = parse_json(read_body(request, limit=settings.INGEST_MAX_BODY_BYTES))
    if type(payload) is dict:
        items = payload.get("batch", [payload])
        if type(items) is not list:
            raise IntakeError(400, "invalid_batch", "batch must be a list of network actions")
        write_key = request.META.get("HTTP_X_API_KEY") or payload.get("api_key")
    elif type(payload) is list:
        items, write_key = payload, request.META.get("HTTP_X_API_KEY")
    else:
        raise IntakeError(400, "invalid_body", 'the body must be a network action or {"batch": [...]}')
    project = await resolve_project(write_key)
    if not items:
        raise IntakeError(400, "empty_batch", "the batch has no network actions")
    if len(items) > settings.INGEST_MAX_BATCH:
        raise IntakeError(413, "batch_too_large", f"at most {settings.INGEST_MAX_BATCH} network actions per request")
    await check_rate_limit(project, len(items))
    context = await request_context(request, project, sent_at=None, check_unicode=check_unicode)
    result = network_action_rows(context, items)
    await publish(project, result.rows, endpoint="network_actions")
    return _answer(result, success_status=202)


def _basic_auth_user(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return decoded.partition(":")[0] or None


async def _segment(request: HttpRequest, kind: str | None) -> HttpResponse:
    limit = SEGMENT_MAX_BATCH_BYTES if kind is None else SEGMENT_MAX_CALL_BYTES
    # Segment answers 400 for a payload over its limits.
    payload, check_unicode = parse_json(read_body(request, limit=limit, too_large_status=400))
    if type(payload) is not dict:
        raise IntakeError(400, "invalid_body", "the body must be a JSON object")
    write_key = _basic_auth_user(request) or payload.get("writeKey") or request.META.get("HTTP_X_API_KEY")
    project = await resolve_project(write_key)
    if kind is None:
        messages = payload.get("batch")
        if type(messages) is not list:
            raise IntakeError(400, "invalid_batch", "batch must be a list of messages")
        if not messages:
            raise IntakeError(400, "empty_batch", "the batch has no messages")
        if len(messages) > settings.INGEST_MAX_BATCH:
            raise IntakeError(400, "batch_too_large", f"at most {settings.INGEST_MAX_BATCH} messages per batch")
        sent_at = payload.get("sentAt")
        shared_context = payload.get("context")
        if type(shared_context) is dict and shared_context:
            # A batch-level context applies to every message (a message's own keys win).
            for message in messages:
                if type(message) is dict:
                    own = message.get("context")
                    message["context"] = {**shared_context, **own} if type(own) is dict else shared_context
    else:
        messages, sent_at = [payload], None
    await check_rate_limit(project, len(messages))
    context = await request_context(request, project, sent_at=sent_at, check_unicode=check_unicode)
    result = segment_rows(context, messages, kind)
    await publish(project, result.rows, endpoint="segment")
    return _answer(result, success_status=200, segment=True)


@_guarded("segment")
async def segment_batch_view(request: HttpRequest) -> HttpResponse:
    """``POST /v1/batch``: ``{"batch": [messages with "type"], "sentAt"?, "context"?}``."""
    return await _segment(request, None)


def _segment_call(kind: str) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    async def handler(request: HttpRequest) -> HttpResponse:
        return await _segment(request, kind)

    handler.__name__ = f"segment_{kind}_view"
    handler.__doc__ = f"``POST /v1/{kind}``: one Segment {kind} call."
    return _guarded("segment")(handler)


SEGMENT_CALL_VIEWS = {kind: _segment_call(kind) for kind in SEGMENT_TYPES}
