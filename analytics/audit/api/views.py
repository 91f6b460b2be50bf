"""Export of an organisation's audit log, for its owners and admins (JSON or CSV).

``GET /api/v1/organisations/{id}/audit-log?output=json|csv&from=…&to=…`` streams every
entry in the range, oldest first (no pagination: it is an export). ``from``/``to`` are
ISO-8601 times (``to`` exclusive); both optional. Through a personal API key it needs the
``admin`` scope and the key's own organisation.
"""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from analytics.accounts.models import ApiKeyScope
from analytics.accounts.typing import AuthenticatedRequest
from analytics.audit.exports import AuditEntrySerializer, csv_stream, json_stream
from analytics.audit.selectors import audit_entries_for_organisation, organisation_get_for_audit


class AuditExportQuerySerializer(serializers.Serializer):
    output = serializers.ChoiceField(choices=["json", "csv"], default="json")
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("start") and attrs.get("end") and attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError({"from": ["must be before 'to'"]})
        return attrs


class AuditLogExportView(APIView):
    required_api_key_scope = ApiKeyScope.ADMIN

    @extend_schema(
        parameters=[
            OpenApiParameter("output", str, enum=["json", "csv"], description="json (default) or csv"),
            OpenApiParameter("from", str, description="ISO-8601 start, inclusive"),
            OpenApiParameter("to", str, description="ISO-8601 end, exclusive"),
        ],
        responses={200: AuditEntrySerializer(many=True)},
    )
    def get(self, request: AuthenticatedRequest, organisation_id: int) -> StreamingHttpResponse:
        query = AuditExportQuerySerializer(
            data={
                key: value
                for key, value in {
                    "output": request.query_params.get("output"),
                    "start": request.query_params.get("from"),
                    "end": request.query_params.get("to"),
                }.items()
                if value is not None
            }
        )
        if not query.is_valid():
            renamed = {{"start": "from", "end": "to"}.get(name, name): errors for name, errors in query.errors.items()}
            raise serializers.ValidationError(renamed)
        organisation = organisation_get_for_audit(user=request.user, organisation_id=organisation_id)
        entries = audit_entries_for_organisation(
            organisation=organisation, start=query.validated_data.get("start"), end=query.validated_data.get("end")
        )
        stamp = f"audit-log-organisation-{organisation.pk}"
        if query.validated_data["output"] == "csv":
            response = StreamingHttpResponse(csv_stream(entries), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{stamp}.csv"'
        else:
            response = StreamingHttpResponse(json_stream(entries), content_type="application/json")
            response["Content-Disposition"] = f'attachment; filename="{stamp}.json"'
        return response
