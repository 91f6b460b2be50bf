"""OpenAPI description of the ingestion endpoints (documentation only, never routed).

The real endpoints in :mod:`analytics.ingestion.api.ingest` are plain async Django views
(also served by the ASGI fast path), so drf-spectacular's endpoint enumerator skips them.
:func:`add_ingestion_endpoints`, a drf-spectacular preprocessing hook
(``SPECTACULAR_SETTINGS["PREPROCESSING_HOOKS"]``), adds one ``POST`` operation per
ingestion URL, described by the DRF views below. Those views and serializers exist only
for the schema: nothing here runs when an event is posted, and the URL paths come from
the URLconf (by URL name), so they cannot drift from the routes.

What is described follows the code that enforces it: ``ingest.py`` (body shapes, write
key sources, status codes), ``intake.py`` (body size, gzip/deflate, JSON, rate limit,
bus), ``pipeline.py`` (native event fields) and ``segment.py`` (Segment messages).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import resolve, reverse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.core.schema import AutoSchema
from analytics.ingestion.api.ingest import SEGMENT_MAX_BATCH_BYTES, SEGMENT_MAX_CALL_BYTES
from analytics.ingestion.segment import SEGMENT_TYPES
from analytics.ingestion.validation import MAX_NAME_LENGTH

TAG = "ingestion"


# ------------------------------------------------------------------ security schemes
class WriteKeyHeader(BaseAuthentication):
    """Schema marker for the project write key in ``X-Api-Key``; the views check keys
    themselves (``intake.resolve_project``), so this class never authenticates anything."""

    def authenticate(self, request: Request) -> None:
        return None


class SegmentBasic(BaseAuthentication):
    """Schema marker for Segment's HTTP Basic auth (the write key as user name)."""

    def authenticate(self, request: Request) -> None:
        return None


class WriteKeyHeaderScheme(OpenApiAuthenticationExtension):
    target_class = WriteKeyHeader
    name = "writeKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-Api-Key",
            "description": (
                "The project's write key (`wk_...`). Event endpoints only. Where a header cannot be set "
                "(`navigator.sendBeacon`), the body may carry it instead: `api_key` on `/api/v1/events`, "
                "`writeKey` on the Segment endpoints."
            ),
        }


class SegmentBasicScheme(OpenApiAuthenticationExtension):
    target_class = SegmentBasic
    name = "segmentBasic"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": (
                "Segment-style: the project's write key as the user name, an empty password "
                '(`Authorization: Basic base64("wk_...:")`). Segment endpoints only.'
            ),
        }


# ------------------------------------------------------------------ shared field types
_TIMESTAMP_SCHEMA = {
    "oneOf": [
        {
            "type": "string",
            "format": "date-time",
            "minLength": 10,
            "maxLength": 40,
            "description": "ISO-8601; `Z` or an offset, none means UTC.",
        },
        {
            "type": "number",
            "minimum": 0,
            "maximum": 7_258_118_400_000,
            "description": "Epoch milliseconds (a fraction is dropped).",
        },
    ],
}


@extend_schema_field(_TIMESTAMP_SCHEMA)
class TimestampField(serializers.Field):
    """ISO-8601 text or epoch milliseconds, between 1970 and 2200."""


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH},
            {"type": "integer", "description": "Numbers are accepted and stored as text."},
        ],
    }
)
class NameField(serializers.Field):
    """A name or id: 1-200 printable characters (no control characters), or an integer."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": (
            "Free-form JSON. Encoded, it must fit the per-event limit (`INGEST_MAX_EVENT_BYTES`, "
            "with the event name and distinct id). If the project registered an event schema for this "
            "event, the properties must match it. Keys with a meaning:"
        ),
        "properties": {
            "$set": {
                "type": "object",
                "additionalProperties": True,
                "description": "Sets these properties on the person of `distinct_id`.",
            },
            "$set_once": {
                "type": "object",
                "additionalProperties": True,
                "description": "Sets these person properties only where they are not set yet.",
            },
            "$anon_distinct_id": {
                "type": "string",
                "maxLength": MAX_NAME_LENGTH,
                "description": "On `$identify`: merges this (anonymous) id into the person.",
            },
            "alias": {
                "type": "string",
                "maxLength": MAX_NAME_LENGTH,
                "description": "On `$create_alias`: merges this id into the person.",
            },
            "$session_id": {"type": "string"},
            "$current_url": {"type": "string", "description": "Also read from `url`."},
            "$referrer": {"type": "string", "description": "Also read from `referrer`."},
            "revenue": {"type": "number", "description": "Also read from `$revenue`."},
            "$user_agent": {
                "type": "string",
                "description": "Overrides the request's User-Agent for browser/OS/device.",
            },
            "$ip": {"type": "string", "description": "Overrides the request's client address."},
            "$country": {"type": "string", "description": "Also read from `$geoip_country_code`."},
            "$lib": {"type": "string"},
            "$lib_version": {"type": "string"},
        },
    }
)
class PropertiesField(serializers.DictField):
    pass


# ------------------------------------------------------------------ native format
class IngestEvent(serializers.Serializer):
    """One event of `POST /api/v1/events`."""

    event = NameField(help_text="The event name: 1-200 printable characters.")
    distinct_id = NameField(
        required=False,
        help_text="Who did it: 1-200 printable characters. Required, unless `user_id` is given.",
    )
    user_id = NameField(required=False, help_text="Synonym of `distinct_id`, used when `distinct_id` is absent.")
    timestamp = TimestampField(
        required=False,
        help_text=(
            "When it happened; the receive time if absent. With `sent_at` the client's clock skew is "
            "corrected. More than 23 hours in the future: clamped to the receive time. Older than the "
            "project's retention: rejected."
        ),
    )
    event_id = NameField(
        required=False,
        help_text=(
            "Idempotency key (e.g. a UUID): events with the same id are stored once. "
            "Without it the id is derived from the content, so an identical retry is not duplicated."
        ),
    )
    source_id = serializers.CharField(
        required=False, max_length=MAX_NAME_LENGTH, help_text="Optional name of the sending source."
    )
    properties = PropertiesField(required=False)


class IngestSingleEvent(IngestEvent):
    """One event as the whole body."""

    sent_at = TimestampField(required=False, help_text="The client's clock when it sent the request (skew correction).")
    api_key = serializers.CharField(
        required=False, help_text="The write key, when the `X-Api-Key` header cannot be set (sendBeacon)."
    )


class IngestBatch(serializers.Serializer):
    """Several events in one body."""

    batch = serializers.ListField(
        child=IngestEvent(),
        min_length=1,
        max_length=settings.INGEST_MAX_BATCH,
        help_text="1 to `INGEST_MAX_BATCH` events; more is answered 413.",
    )
    sent_at = TimestampField(required=False, help_text="The client's clock when it sent the request (skew correction).")
    api_key = serializers.CharField(
        required=False, help_text="The write key, when the `X-Api-Key` header cannot be set (sendBeacon)."
    )


class IngestRejected(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the request (0 for a single event).")
    error = serializers.CharField(help_text="Why it was refused.")


class IngestAccepted(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events handed to the event bus (stored shortly after).")
    rejected = IngestRejected(many=True, help_text="The refused events; the others were accepted.")


class IngestError(serializers.Serializer):
    """The project's error envelope, `{"error": {"code", "message", ...}}`."""

    class DetailSerializer(serializers.Serializer):
        code = serializers.CharField(help_text="Machine-readable, e.g. `malformed_json`, `invalid_key`.")
        message = serializers.CharField(help_text="For people.")
        rejected = IngestRejected(
            many=True,
            required=False,
            help_text="With `invalid_event` / `invalid_events`: why each event was refused.",
        )

    error = DetailSerializer()


# ------------------------------------------------------------------ Segment format
class SegmentContext(serializers.Serializer):
    """The parts of Segment's `context` that are read; other keys are accepted and ignored."""

    class LibrarySerializer(serializers.Serializer):
        name = serializers.CharField(required=False, help_text="Stored as the event's lib.")
        version = serializers.CharField(required=False)

    class PageSerializer(serializers.Serializer):
        url = serializers.CharField(required=False, help_text="`$current_url` unless properties.url is set.")
        referrer = serializers.CharField(required=False)

    class OsSerializer(serializers.Serializer):
        name = serializers.CharField(required=False)

    class DeviceSerializer(serializers.Serializer):
        type = serializers.CharField(required=False)

    class LocationSerializer(serializers.Serializer):
        country = serializers.CharField(required=False, max_length=64)

    ip = serializers.CharField(required=False, help_text="The client's address instead of the request's.")
    userAgent = serializers.CharField(required=False, help_text="Parsed for browser, OS and device type.")
    library = LibrarySerializer(required=False)
    page = PageSerializer(required=False)
    os = OsSerializer(required=False)
    device = DeviceSerializer(required=False)
    location = LocationSerializer(required=False)
    traits = serializers.DictField(required=False, help_text="identify: used when the message has no traits.")


class SegmentMessage(serializers.Serializer):
    """Fields every Segment call shares (``segment.segment_message_row``). The whole message
    must fit ``INGEST_MAX_EVENT_BYTES`` encoded."""

    userId = NameField(required=False, help_text="The distinct id. `userId` or `anonymousId` is required.")
    anonymousId = NameField(required=False, help_text="The distinct id when there is no `userId`.")
    messageId = NameField(required=False, help_text="Idempotency key: messages with the same id are stored once.")
    timestamp = TimestampField(required=False, help_text="When it happened; the receive time if absent.")
    originalTimestamp = TimestampField(required=False, help_text="Used when `timestamp` is absent.")
    sentAt = TimestampField(required=False, help_text="The client's clock when it sent this (skew correction).")
    context = SegmentContext(required=False)  # type: ignore[assignment]  # a field, not Field.context
    integrations = serializers.DictField(required=False, help_text="Accepted and ignored.")


class _SingleCall(serializers.Serializer):
    writeKey = serializers.CharField(
        required=False, help_text="The write key, when neither Basic auth nor `X-Api-Key` is used."
    )


class SegmentTrack(_SingleCall, SegmentMessage):
    """Stored as the named event."""

    event = NameField(help_text="The event name.")
    properties = serializers.DictField(required=False)


class SegmentIdentify(_SingleCall, SegmentMessage):
    """Stored as `$identify`; traits become `$set`; with both `userId` and `anonymousId`
    the anonymous id is merged into the user's person."""

    traits = serializers.DictField(required=False, help_text="Person properties (`$set`).")


class SegmentPage(_SingleCall, SegmentMessage):
    """Stored as `$pageview`."""

    name = serializers.CharField(required=False, help_text="Stored as properties.name.")
    properties = serializers.DictField(required=False, help_text="`url` and `referrer` are read.")


class SegmentScreen(_SingleCall, SegmentMessage):
    """Stored as `$screen`."""

    name = serializers.CharField(required=False, help_text="Stored as properties.$screen_name.")
    properties = serializers.DictField(required=False)


class SegmentGroup(_SingleCall, SegmentMessage):
    """Stored as `$groupidentify`."""

    groupId = NameField(help_text="Stored as properties.$group_id.")
    traits = serializers.DictField(required=False, help_text="Stored as properties.$group_set.")


class SegmentAlias(_SingleCall, SegmentMessage):
    """Stored as `$create_alias`; `previousId` is merged into the person of `userId`."""

    userId = NameField(help_text="The id that stays.")
    previousId = NameField(help_text="The id merged into `userId`.")


SEGMENT_CALLS: dict[str, type[serializers.Serializer]] = {
    "track": SegmentTrack,
    "identify": SegmentIdentify,
    "page": SegmentPage,
    "screen": SegmentScreen,
    "group": SegmentGroup,
    "alias": SegmentAlias,
}
assert tuple(SEGMENT_CALLS) == SEGMENT_TYPES, "every Segment call type is documented"


def _batch_message(kind: str, call: type[serializers.Serializer]) -> type[serializers.Serializer]:
    name = f"SegmentBatch{kind.title()}"
    return type(
        name,
        (call,),
        {
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": f"A `{kind}` message inside `/v1/batch`.",
            "type": serializers.ChoiceField(choices=[kind], help_text="The call type."),
            "writeKey": None,  # read from the batch, not from its messages
        },
    )


# Typed as PolymorphicProxySerializer takes it (its stubs want exactly this dict type).
SEGMENT_BATCH_MESSAGES: dict[str, serializers.Serializer | type[serializers.Serializer]] = {
    kind: _batch_message(kind, call) for kind, call in SEGMENT_CALLS.items()
}


class SegmentBatch(serializers.Serializer):
    batch = serializers.ListField(
        child=PolymorphicProxySerializer(
            component_name="SegmentBatchMessage",
            serializers=SEGMENT_BATCH_MESSAGES,
            resource_type_field_name="type",
            many=False,
        ),
        min_length=1,
        max_length=settings.INGEST_MAX_BATCH,
        help_text="1 to `INGEST_MAX_BATCH` messages, each with its `type`.",
    )
    sentAt = TimestampField(required=False, help_text="The client's clock when it sent the batch.")
    context = SegmentContext(  # type: ignore[assignment]  # a field, not Field.context
        required=False, help_text="Applies to every message; a message's own keys win."
    )
    writeKey = serializers.CharField(
        required=False, help_text="The write key, when neither Basic auth nor `X-Api-Key` is used."
    )


class SegmentAccepted(serializers.Serializer):
    success = serializers.BooleanField(help_text="Always true (Segment's answer).")
    accepted = serializers.IntegerField()
    rejected = IngestRejected(many=True)


# ------------------------------------------------------------------ examples
# ``timestamp`` with ``sent_at``: the skew correction places the event 5 s before its receipt,
# so these examples stay valid (never older than the retention) whenever they are sent.
NATIVE_EVENT_EXAMPLE = {
    "event": "signed_up",
    "distinct_id": "user-42",
    "timestamp": "2025-06-01T12:00:00Z",
    "sent_at": "2025-06-01T12:00:05Z",
    "event_id": "6b8f2a8e-1c9d-4a53-9b1e-0f3c2d7a5e11",
    "source_id": "web",
    "properties": {
        "plan": "pro",
        "$current_url": "https://example.com/pricing",
        "$session_id": "s-1f2e",
        "$set": {"email": "ada@example.com"},
        "$set_once": {"first_seen_plan": "pro"},
    },
}
NATIVE_BATCH_EXAMPLE = {
    "sent_at": "2025-06-01T12:00:05Z",
    "batch": [
        {
            "event": "$pageview",
            "distinct_id": "user-42",
            "timestamp": "2025-06-01T12:00:00Z",
            "properties": {"$current_url": "https://example.com/"},
        },
        {
            "event": "purchase",
            "distinct_id": "user-42",
            "timestamp": 1748779202000,
            "event_id": "order-1001",
            "properties": {"revenue": 49.9, "currency": "EUR"},
        },
    ],
}
NATIVE_ARRAY_EXAMPLE = [{"event": "clicked", "distinct_id": "user-42", "properties": {"button": "buy"}}]

_SEGMENT_COMMON_EXAMPLE: dict[str, Any] = {
    "messageId": "022bb90c-bbac-11e4-8dfc-aa07a5b093db",
    "timestamp": "2025-06-01T12:00:00.000Z",
    "sentAt": "2025-06-01T12:00:05.000Z",
    "context": {"ip": "203.0.113.7", "library": {"name": "analytics-node", "version": "6.2.0"}},
}
SEGMENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "track": {
        "userId": "019mr8mf4r",
        "event": "Item Purchased",
        "properties": {"name": "Leap to Conclusions Mat", "revenue": 14.99},
    },
    "identify": {
        "userId": "019mr8mf4r",
        "anonymousId": "507f191e810c19729de860ea",
        "traits": {"email": "pgibbons@example.com", "plan": "Enterprise"},
    },
    "page": {
        "userId": "019mr8mf4r",
        "name": "Pricing",
        "properties": {"url": "https://example.com/pricing", "referrer": "https://example.org/"},
    },
    "screen": {"userId": "019mr8mf4r", "name": "Home", "properties": {"variation": "blue"}},
    "group": {
        "userId": "019mr8mf4r",
        "groupId": "0e8c78ea9d97a7b8185e8632",
        "traits": {"name": "Initech", "employees": 329},
    },
    "alias": {"userId": "019mr8mf4r", "previousId": "507f191e810c19729de860ea"},
}
SEGMENT_EXAMPLES = {
    kind: {**body, **_SEGMENT_COMMON_EXAMPLE, "messageId": f"{kind}-{_SEGMENT_COMMON_EXAMPLE['messageId']}"}
    for kind, body in SEGMENT_EXAMPLES.items()
}
SEGMENT_BATCH_EXAMPLE = {
    "sentAt": "2025-06-01T12:00:05.000Z",
    "context": {"library": {"name": "analytics-python", "version": "2.3.2"}},
    "batch": [
        {
            "type": "identify",
            "userId": "019mr8mf4r",
            "traits": {"plan": "Enterprise"},
            "timestamp": "2025-06-01T12:00:00.000Z",
            "messageId": "batch-1",
        },
        {
            "type": "track",
            "userId": "019mr8mf4r",
            "event": "Item Purchased",
            "properties": {"revenue": 14.99},
            "timestamp": "2025-06-01T12:00:01.000Z",
            "messageId": "batch-2",
        },
    ],
}


# ------------------------------------------------------------------ parameters and responses
def _parameters() -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "Content-Encoding",
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            enum=["gzip", "x-gzip", "deflate", "identity"],
            description=(
                "Compressed bodies are accepted; the size limit applies to the decompressed body too. "
                "Another encoding is answered 415."
            ),
        ),
        OpenApiParameter(
            "Retry-After",
            OpenApiTypes.INT,
            OpenApiParameter.HEADER,
            response=[429, 503],
            description="Seconds to wait before retrying.",
        ),
        OpenApiParameter(
            "X-Request-ID",
            OpenApiTypes.STR,
            OpenApiParameter.HEADER,
            response=True,
            description="The request's id (the client's `X-Request-ID` if valid), also in the logs.",
        ),
    ]


def _error(description: str, code: str, message: str) -> OpenApiResponse:
    return OpenApiResponse(
        IngestError,
        description=description,
        examples=[OpenApiExample(code, value={"error": {"code": code, "message": message}}, response_only=True)],
    )


def _common_errors(*, body_limit: str, too_large_status: int) -> dict[int, OpenApiResponse]:
    too_large = f"`payload_too_large`: the body (or the decompressed body) is over {body_limit}."
    bad_request = (
        "Malformed request: `empty_body`, `malformed_json`, `invalid_body` (not an object/batch), "
        "`invalid_batch`, `empty_batch`, `invalid_compression`, `invalid_request` (bad Content-Length); "
        "or every event was refused: `invalid_event` / `invalid_events` with the `rejected` list."
    )
    if too_large_status == 400:
        bad_request += (
            f" Also {too_large} And `batch_too_large`: over `INGEST_MAX_BATCH` messages (Segment answers 400 to both)."
        )
    responses = {
        400: _error(
            bad_request,
            "malformed_json",
            "malformed JSON: unexpected character, expected a string key: line 1 column 2 (char 1)",
        ),
        401: _error(
            "`missing_key` (no write key) or `invalid_key` (unknown write key).",
            "invalid_key",
            "the write key is not valid",
        ),
        415: _error(
            "`unsupported_encoding`: Content-Encoding is not gzip, deflate or identity.",
            "unsupported_encoding",
            "Content-Encoding must be gzip, deflate or identity",
        ),
        429: _error(
            "`rate_limited`: the project's events-per-second limit is exceeded; see Retry-After.",
            "rate_limited",
            "the project's limit of 20000 events per second is exceeded",
        ),
        503: _error(
            "`unavailable`: the event bus did not acknowledge the events; nothing was accepted. "
            "Retry after Retry-After seconds.",
            "unavailable",
            "the events could not be handed over; retry later",
        ),
    }
    if too_large_status == 413:
        responses[413] = _error(
            f"{too_large} Or `batch_too_large`: more than `INGEST_MAX_BATCH` events.",
            "payload_too_large",
            f"the body is larger than {settings.INGEST_MAX_BODY_BYTES} bytes",
        )
    return dict(sorted(responses.items()))


# ------------------------------------------------------------------ documentation views
class _IngestionSchema(AutoSchema):
    def _get_request_body(self, direction: str = "request") -> Any:
        # Every ingestion call needs a body; drf-spectacular cannot infer that for a oneOf.
        body = super()._get_request_body(direction)
        if body:
            body["required"] = True
        return body


class _IngestionDoc(APIView):
    """Base of the documentation-only views: never routed, see the module docstring."""

    schema = _IngestionSchema()

    authentication_classes = [WriteKeyHeader]
    permission_classes: list[Any] = []
    parser_classes = [JSONParser]

    def post(self, request: Request) -> Response:  # pragma: no cover - never routed
        raise AssertionError("documentation only: the endpoint is analytics.ingestion.api.ingest")


class NativeEventsDoc(_IngestionDoc):
    @extend_schema(
        operation_id="ingest_events",
        tags=[TAG],
        summary="Send events",
        description=(
            'The native ingestion endpoint. The body is one event, `{"batch": [...]}`, or a JSON array '
            "of events (then the key must be in `X-Api-Key`). Each event is validated on its own: "
            "the valid ones are accepted, the others are listed in `rejected` with their index, "
            "and the answer is 202 unless every event was refused (400).\n\n"
            f"Limits: the body at most `INGEST_MAX_BODY_BYTES` ({settings.INGEST_MAX_BODY_BYTES} bytes, "
            f"after decompression), `INGEST_MAX_BATCH` ({settings.INGEST_MAX_BATCH}) events, "
            f"`INGEST_MAX_EVENT_BYTES` ({settings.INGEST_MAX_EVENT_BYTES}) bytes of properties per event; "
            "the project's events-per-second rate limit.\n\n"
            "Accepted means acknowledged by the event bus; events are queryable shortly after."
        ),
        request=PolymorphicProxySerializer(
            component_name="IngestPayload",
            serializers=[IngestSingleEvent, IngestBatch, IngestEvent(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        parameters=_parameters(),
        responses={
            202: OpenApiResponse(
                IngestAccepted,
                description="Accepted; refused events (if any) are listed.",
                examples=[
                    OpenApiExample(
                        "partly accepted",
                        response_only=True,
                        value={"accepted": 1, "rejected": [{"index": 1, "error": "distinct_id is required"}]},
                    )
                ],
            ),
            **_common_errors(body_limit="`INGEST_MAX_BODY_BYTES`", too_large_status=413),
        },
        examples=[
            OpenApiExample("single event", value=NATIVE_EVENT_EXAMPLE, request_only=True),
            OpenApiExample("batch", value=NATIVE_BATCH_EXAMPLE, request_only=True),
            OpenApiExample("array of events", value=NATIVE_ARRAY_EXAMPLE, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - never routed
        return super().post(request)


_SEGMENT_AUTH = (
    "Authentication: HTTP Basic with the write key as user name (Segment's way), the `X-Api-Key` "
    "header, or `writeKey` in the body."
)


class _SegmentDoc(_IngestionDoc):
    authentication_classes = [SegmentBasic, WriteKeyHeader]


def _segment_responses(body_limit: str) -> dict[int, OpenApiResponse]:
    return {
        200: OpenApiResponse(
            SegmentAccepted,
            description="Accepted (Segment answers 200); refused messages are listed.",
            examples=[
                OpenApiExample("accepted", response_only=True, value={"success": True, "accepted": 1, "rejected": []})
            ],
        ),
        **_common_errors(body_limit=body_limit, too_large_status=400),
    }


class SegmentBatchDoc(_SegmentDoc):
    @extend_schema(
        operation_id="segment_batch",
        tags=[TAG],
        summary="Segment: batch",
        description=(
            "Segment HTTP Tracking API `batch`: several calls of any type in one body. A batch-level "
            "`context` applies to every message. The body at most "
            f"{SEGMENT_MAX_BATCH_BYTES} bytes, at most `INGEST_MAX_BATCH` ({settings.INGEST_MAX_BATCH}) "
            "messages.\n\n" + _SEGMENT_AUTH
        ),
        request=SegmentBatch,
        parameters=_parameters(),
        responses=_segment_responses(f"{SEGMENT_MAX_BATCH_BYTES} bytes"),
        examples=[OpenApiExample("batch", value=SEGMENT_BATCH_EXAMPLE, request_only=True)],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - never routed
        return super().post(request)


def _segment_call_doc(kind: str) -> type[APIView]:
    call = SEGMENT_CALLS[kind]

    class SegmentCallDoc(_SegmentDoc):
        @extend_schema(
            operation_id=f"segment_{kind}",
            tags=[TAG],
            summary=f"Segment: {kind}",
            description=(
                f"Segment HTTP Tracking API `{kind}` call. {(call.__doc__ or '').strip()} "
                f"The body at most {SEGMENT_MAX_CALL_BYTES} bytes.\n\n" + _SEGMENT_AUTH
            ),
            request=call,
            parameters=_parameters(),
            responses=_segment_responses(f"{SEGMENT_MAX_CALL_BYTES} bytes"),
            examples=[OpenApiExample(kind, value=SEGMENT_EXAMPLES[kind], request_only=True)],
        )
        def post(self, request: Request) -> Response:  # pragma: no cover - never routed
            return super().post(request)

    SegmentCallDoc.__name__ = SegmentCallDoc.__qualname__ = f"Segment{kind.title()}Doc"
    return SegmentCallDoc


# URL name (analytics/ingestion/api/urls.py) -> the view that documents it.
DOCUMENTED_URLS: dict[str, type[APIView]] = {
    "ingest-events": NativeEventsDoc,
    "segment-batch": SegmentBatchDoc,
    **{f"segment-{kind}": _segment_call_doc(kind) for kind in SEGMENT_TYPES},
}


def ingestion_endpoints() -> list[tuple[str, str, str, Any]]:
    """``(path, path_regex, method, callback)`` for each ingestion URL, as the enumerator makes them."""
    endpoints = []
    for url_name, doc_view in DOCUMENTED_URLS.items():
        path = reverse(url_name)
        endpoints.append((path, "^" + resolve(path).route, "POST", doc_view.as_view()))
    return endpoints


def add_ingestion_endpoints(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """drf-spectacular preprocessing hook: the plain-Django ingestion views, described above."""
    return [*endpoints, *ingestion_endpoints()]
