"""Retention endpoints under ``/api/v1/projects/{id}/cohorts/retention``.

POSTs because the query is a JSON document; the table, CSV and user-list endpoints only
read, so personal API keys (which may only read) are allowed there; saving a cell as a
segment writes (owners, admins, members; no API keys). A non-member gets 404.
The table (and its CSV) goes through the result cache (``analytics.query.cache``: ``?refresh=true``
or ``"refresh": true`` computes afresh); the user lists are always computed.
The query's semantics: ``analytics.cohorts.compiler``; the answer's shape:
``analytics.cohorts.runner``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.models import EDITING_ROLES
from analytics.accounts.permissions import IsAuthenticatedApiKeysReadOnly, IsAuthenticatedReadQuery
from analytics.accounts.selectors import project_get_for_user, role_for
from analytics.accounts.services import PermissionDeniedError
from analytics.accounts.typing import AuthenticatedRequest
from analytics.cohorts.runner import cell_users, retention_csv, run_retention
from analytics.cohorts.serializers import (
    RetentionCellSegmentSerializer,
    RetentionQuerySerializer,
    RetentionUsersSerializer,
)
from analytics.cohorts.services import retention_cell_segment_create
from analytics.query.cache import cached_answer, project_rules, wants_refresh
from analytics.query.serializers import project_context


class RetentionCohortSerializer(serializers.Serializer):
    start = serializers.CharField(help_text="the cohort period's start, ISO 8601 with the project's offset")
    size = serializers.IntegerField()
    values = serializers.ListField(
        child=serializers.IntegerField(allow_null=True),
        help_text="values[0] = size; values[k] = users who returned in period k; null: period not started",
    )


class RetentionBreakdownGroupSerializer(serializers.Serializer):
    breakdown_value = serializers.CharField(allow_null=True, help_text='null: not set; "$other": the rest')
    is_other = serializers.BooleanField()
    cohorts = RetentionCohortSerializer(many=True)


class RetentionResultSerializer(serializers.Serializer):
    cohorts = RetentionCohortSerializer(many=True)
    breakdown = RetentionBreakdownGroupSerializer(many=True, required=False)
    period = serializers.CharField()
    periods = serializers.IntegerField()
    mode = serializers.CharField()
    returning = serializers.CharField()
    time_zone = serializers.CharField()
    computed_at = serializers.DateTimeField()
    cached = serializers.BooleanField(help_text="true when served from the result cache (see computed_at)")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = serializers.CharField()
        fields["to"] = serializers.CharField()
        return fields


class RetentionUserSerializer(serializers.Serializer):
    person_id = serializers.UUIDField()
    distinct_id = serializers.CharField(help_text="the distinct id on the user's cohort event")


class RetentionUsersResultSerializer(serializers.Serializer):
    users = RetentionUserSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="pass back as cursor; null on the last page")


def _answer(request: AuthenticatedRequest, project: Any) -> dict[str, Any]:
    """The table through the result cache (shared with saved reports of kind "retention")."""
    query = _validated(RetentionQuerySerializer, request, project)["query"]
    return cached_answer(
        kind="retention",
        query_json=request.data,
        project_id=project.id,
        time_zone=project.timezone,
        rules=project_rules(project),  # the same key as a saved report's
        compute=lambda: run_retention(project_id=project.id, query=query),
        refresh=wants_refresh(request.query_params, request.data),
    )


def _validated(serializer_class: type[serializers.Serializer], request: AuthenticatedRequest, project: Any) -> Any:
    serializer = serializer_class(data=request.data, context=project_context(project))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class RetentionView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=RetentionQuerySerializer, responses={200: RetentionResultSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Retention cohorts: users grouped by the period of their cohort event, and who came back when."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(_answer(request, project))


class RetentionCsvView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(
        request=RetentionQuerySerializer,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="the table as CSV")},
    )
    def post(self, request: AuthenticatedRequest, project_id: int) -> HttpResponse:
        """The retention table as CSV: cohort_start, [breakdown_value,] size, period_0 .. period_N."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        body = retention_csv(_answer(request, project))
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="retention-{project.id}.csv"'
        return response


class RetentionUsersView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=RetentionUsersSerializer, responses={200: RetentionUsersResultSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """The users of one cell (cohort start + period k), a page at a time, by person id."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = _validated(RetentionUsersSerializer, request, project)
        return Response(
            cell_users(
                project_id=project.id, query=data["query"], cell=data["cell"], limit=data["limit"], after=data["after"]
            )
        )


class RetentionCellSegmentResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the new static segment")
    name = serializers.CharField()
    users = serializers.IntegerField(help_text="users saved (one distinct id each)")


class RetentionCellSegmentView(APIView):
    """Writes: owners, admins and members of the project; personal API keys may not."""

    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(request=RetentionCellSegmentSerializer, responses={201: RetentionCellSegmentResultSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Save the users of one cell as a new static segment."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        role = role_for(user=request.user, project=project) or "none"
        if role not in EDITING_ROLES:
            raise PermissionDeniedError(f"your role ({role}) cannot create segments")
        data = _validated(RetentionCellSegmentSerializer, request, project)
        segment, users = retention_cell_segment_create(
            project=project, query=data["query"], cell=data["cell"], name=data["name"], created_by=request.user
        )
        return Response({"id": segment.id, "name": segment.name, "users": users}, status=status.HTTP_201_CREATED)
