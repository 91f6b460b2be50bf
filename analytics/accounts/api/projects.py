"""Project endpoints. Non-members get 404 for another organisation's project."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.models import Project, validate_timezone
from analytics.accounts.selectors import project_get_for_user, projects_for_user, role_for
from analytics.accounts.services import (
    project_create,
    project_require_manager,
    project_rotate_write_key,
    project_update,
)
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.inputs import BoundedIntegerField


class ProjectOutputSerializer(serializers.ModelSerializer):
    organisation_id = serializers.IntegerField()
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "organisation_id",
            "timezone",
            "retention_days",
            "write_key",
            "ingest_rate_limit",
            "keep_full_ip",
            "aggregation_lateness_seconds",
            "measures",
            "session_timeout_minutes",
            "session_split_at_midnight",
            "created_at",
            "role",
        ]

    def get_role(self, project: Project) -> str | None:
        annotated = getattr(project, "user_role", None)
        return annotated or role_for(user=self.context["request"].user, project=project)


class ProjectListCreateView(APIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        timezone = serializers.CharField(max_length=64, default="UTC", validators=[validate_timezone])
        retention_days = serializers.IntegerField(min_value=1, max_value=3650, default=365)

    @extend_schema(responses=ProjectOutputSerializer(many=True))
    def get(self, request: AuthenticatedRequest) -> Response:
        projects = projects_for_user(user=request.user).order_by("id")
        return Response(ProjectOutputSerializer(projects, many=True, context={"request": request}).data)

    @extend_schema(request=InputSerializer, responses={201: ProjectOutputSerializer})
    def post(self, request: AuthenticatedRequest) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = project_create(
            user=request.user,
            name=data.validated_data["name"],
            timezone_name=data.validated_data["timezone"],
            retention_days=data.validated_data["retention_days"],
        )
        return Response(
            ProjectOutputSerializer(project, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


class ProjectDetailView(APIView):
    class UpdateSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        timezone = serializers.CharField(max_length=64, required=False, validators=[validate_timezone])
        retention_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
        ingest_rate_limit = BoundedIntegerField(min_value=1, required=False, allow_null=True)
        keep_full_ip = serializers.BooleanField(required=False)
        aggregation_lateness_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False)
        measures = serializers.ListField(
            child=serializers.RegexField(r"^[A-Za-z_$][A-Za-z0-9_$]{0,99}$"), required=False, max_length=20
        )
        session_timeout_minutes = serializers.IntegerField(min_value=1, max_value=1440, required=False)
        session_split_at_midnight = serializers.BooleanField(required=False)

    @extend_schema(responses=ProjectOutputSerializer)
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(ProjectOutputSerializer(project, context={"request": request}).data)

    @extend_schema(request=UpdateSerializer, responses=ProjectOutputSerializer)
    def patch(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = self.UpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        project = project_update(project=project, user=request.user, **data.validated_data)
        return Response(ProjectOutputSerializer(project, context={"request": request}).data)


class ProjectRotateWriteKeyView(APIView):
    @extend_schema(request=None, responses=ProjectOutputSerializer)
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        project = project_rotate_write_key(project=project)
        return Response(ProjectOutputSerializer(project, context={"request": request}).data)
