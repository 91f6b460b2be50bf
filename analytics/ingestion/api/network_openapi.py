"""OpenAPI description of ``POST /api/v1/network-actions`` (documentation only, never routed).

A second drf-spectacular preprocessing hook next to ``openapi.add_ingestion_endpoints``,
with the same documentation-only view base; the rules described are those of
``analytics/ingestion/network_actions.py``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import resolve, reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from analytics.ingestion.api.openapi import TAG, _common_errors, _IngestionDoc, _parameters
from analytics.ingestion.network_actions import DURATION_TOLERANCE_SEC, MAX_META_BYTES, NETWORK_ACTION_TYPES

URL_NAME = "ingest-network-actions"

EXAMPLE = {
    "event_id": "550e8400-e29b-41d4-a716-446655440000",
    "source_id": "provider-1",
    "user_id": "123456789",
    "type": "CALL_OUT",
    "started_at": "2025-10-20T12:34:56Z",
    "ended_at": "2025-10-20T12:56:00Z",
    "duration_sec": 127,
    "bytes_up": 0,
    "bytes_down": 0,
    "meta": {"cell": "A1"},
}
BATCH_EXAMPLE = {
    "batch": [
        EXAMPLE,
        {
            "event_id": "7d0f1c8e-3b1a-4c55-9a53-2f1d0e9b6a01",
            "source_id": "provider-1",
            "user_id": "123456789",
            "type": "DATA",
            "started_at": "2025-10-20T13:00:00Z",
            "ended_at": "2025-10-20T13:10:00Z",
            "duration_sec": 600,
            "bytes_up": 120000,
            "bytes_down": 5400000,
        },
    ]
}


class NetworkAction(serializers.Serializer):
    """One network action in the provider's shape."""

    event_id = serializers.CharField(
        required=False,
        help_text="The provider's id; with `source_id` the action's identity: the same pair is stored once.",
    )
    source_id = serializers.CharField(help_text="The provider (non-empty). Two providers may reuse an `event_id`.")
    user_id = serializers.CharField(help_text="The subscriber (non-empty).")
    type = serializers.ChoiceField(choices=NETWORK_ACTION_TYPES)
    started_at = serializers.CharField(help_text="ISO-8601 or epoch ms; the stored event's time.")
    ended_at = serializers.CharField(required=False, allow_null=True, help_text="Not before `started_at`.")
    duration_sec = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=0,
        help_text=(
            f"Required for calls; SMS carry none (absent, null or 0). At most `ended_at - started_at` "
            f"+ {DURATION_TOLERANCE_SEC:g} s."
        ),
    )
    bytes_up = serializers.IntegerField(required=False, allow_null=True, min_value=0, help_text="Required for DATA.")
    bytes_down = serializers.IntegerField(required=False, allow_null=True, min_value=0, help_text="Required for DATA.")
    meta = serializers.DictField(required=False, help_text=f"An object of at most {MAX_META_BYTES} bytes of JSON.")


class NetworkActionBatch(serializers.Serializer):
    batch = NetworkAction(many=True)
    api_key = serializers.CharField(required=False, help_text="The write key, when no X-Api-Key header is sent.")


class NetworkActionRejected(serializers.Serializer):
    index = serializers.IntegerField()
    reason = serializers.CharField(help_text="e.g. `invalid_type`, `inconsistent_duration`, `missing_bytes`.")
    error = serializers.CharField()


class NetworkActionsAccepted(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = NetworkActionRejected(many=True)


class NetworkActionsDoc(_IngestionDoc):
    @extend_schema(
        operation_id="ingest_network_actions",
        tags=[TAG],
        summary="Send network actions (telecom providers' shape)",
        description=(
            'One network action, `{"batch": [...]}` or a JSON array, with the project\'s write key. '
            "Each action is validated on its own (reason codes in docs/telecom.md); the answers are "
            f"those of `POST /api/v1/events`. At most `INGEST_MAX_BATCH` ({settings.INGEST_MAX_BATCH}) actions."
        ),
        request=PolymorphicProxySerializer(
            component_name="NetworkActionsPayload",
            serializers=[NetworkAction, NetworkActionBatch],
            resource_type_field_name=None,
            many=False,
        ),
        parameters=_parameters(),
        responses={
            202: OpenApiResponse(NetworkActionsAccepted, description="Accepted; refused actions (if any) are listed."),
            **_common_errors(body_limit="`INGEST_MAX_BODY_BYTES`", too_large_status=413),
        },
        examples=[
            OpenApiExample("the provider's message", value=EXAMPLE, request_only=True),
            OpenApiExample("batch", value=BATCH_EXAMPLE, request_only=True),
        ],
    )
    def post(self, request: Request) -> Response:  # pragma: no cover - never routed
        return super().post(request)


def add_network_action_endpoints(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """drf-spectacular preprocessing hook: ``POST /api/v1/network-actions``."""
    path = reverse(URL_NAME)
    return [*endpoints, (path, "^" + resolve(path).route, "POST", NetworkActionsDoc.as_view())]
