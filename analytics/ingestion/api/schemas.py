"""Event schemas per project: list, register (create or replace), delete, install telecom."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.services import project_require_manager
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.errors import NotFound
from analytics.ingestion.models import EventSchema
from analytics.ingestion.selectors import event_schemas_list
from analytics.ingestion.services import event_schema_delete, event_schema_register, telecom_schema_install


class EventSchemaOutput(serializers.ModelSerializer):
    class Meta:
        model = EventSchema
        fields = ["id", "event_name", "properties", "description", "created_at", "updated_at"]


class EventSchemaListView(APIView):
    class InputSerializer(serializers.Serializer):
        event_name = serializers.CharField(max_length=200)
        properties = serializers.DictField(help_text='{"name": {"type": "number", "required": true}}')
        description = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)

    @extend_schema(responses=EventSchemaOutput(many=True))
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(EventSchemaOutput(event_schemas_list(project_id=project.id), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: EventSchemaOutput})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schema = event_schema_register(project=project, **data.validated_data)
        return Response(EventSchemaOutput(schema).data, status=status.HTTP_201_CREATED)


class EventSchemaDetailView(APIView):
    def _schema(self, request: AuthenticatedRequest, project_id: int, event_name: str) -> EventSchema:
        project = project_get_for_user(user=request.user, project_id=project_id)
        schema = EventSchema.objects.filter(project=project, event_name=event_name).first()
        if schema is None:
            raise NotFound("no schema for that event")
        return schema

    @extend_schema(responses=EventSchemaOutput)
    def get(self, request: AuthenticatedRequest, project_id: int, event_name: str) -> Response:
        return Response(EventSchemaOutput(self._schema(request, project_id, event_name)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, project_id: int, event_name: str) -> Response:
        schema = self._schema(request, project_id, event_name)
        project_require_manager(project=schema.project, user=request.user)
        event_schema_delete(schema=schema)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TelecomSchemaInstallView(APIView):
    @extend_schema(request=None, responses={201: EventSchemaOutput(many=True)})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Install the ready telecom schemas (CALL_OUT, CALL_IN, SMS_SENT, SMS_RECEIVED, DATA)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        return Response(
            EventSchemaOutput(telecom_schema_install(project=project), many=True).data, status=status.HTTP_201_CREATED
        )
