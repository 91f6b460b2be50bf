"""Saved reports: ``/api/v1/projects/{id}/reports/`` (CRUD), ``.../reports/{rid}/results``, ``.../reports/templates``.

Reads (list, detail, results, templates) are open to every member of the project, personal
API keys included; writes need a logged-in editor (``analytics.query.saved_reports`` has the
rules). A non-member, or a report of another project, is 404. The list is cursor-paginated,
newest first, and filters by ``?kind=`` and ``?tag=``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.permissions import IsAuthenticatedApiKeysReadOnly
from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.pagination import CursorPagination, cursor_page_schema
from analytics.query.cache import wants_refresh
from analytics.query.kinds import kind_names
from analytics.query.models import SavedReport
from analytics.query.saved_reports import (
    MAX_TAG_LENGTH,
    MAX_TAGS,
    saved_report_create,
    saved_report_delete,
    saved_report_get,
    saved_report_results,
    saved_report_update,
    saved_reports_for_project,
)
from analytics.reports.report_templates import TEMPLATES

REFRESH = OpenApiParameter("refresh", bool, description="true: compute afresh and rewrite the cached answer")


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()


class SavedReportSerializer(serializers.ModelSerializer):
    owner = OwnerSerializer(read_only=True, allow_null=True)
    query = serializers.JSONField()
    tags = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = SavedReport
        fields = ["id", "name", "description", "kind", "query", "tags", "owner", "created_at", "updated_at"]
        read_only_fields = fields


class SavedReportWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    kind = serializers.CharField(max_length=40, help_text="trends, or a preset kind (see /reports/templates)")
    query = serializers.JSONField(help_text="the kind's query JSON (for trends: the body of /insights/trends)")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=MAX_TAG_LENGTH), max_length=MAX_TAGS, required=False, default=list
    )


class SavedReportResultsSerializer(serializers.Serializer):
    report = serializers.DictField()
    cached = serializers.BooleanField()
    computed_at = serializers.DateTimeField()


class ReportTemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.CharField()
    query = serializers.JSONField()


class SavedReportPagination(CursorPagination):
    page_size = 50


class SavedReportFilterSerializer(serializers.Serializer):
    """The list's query parameters: a NUL or an over-long value is a 400, never a database error."""

    kind = serializers.CharField(required=False, allow_blank=True, max_length=40)
    tag = serializers.CharField(required=False, allow_blank=True, max_length=MAX_TAG_LENGTH)


class SavedReportListView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(
        operation_id="v1_projects_reports_list",
        parameters=[OpenApiParameter("kind", str), OpenApiParameter("tag", str)],
        responses={200: cursor_page_schema(SavedReportSerializer)},
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """The project's saved reports, newest first (cursor pages), optionally of one kind or tag."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        filters = SavedReportFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        reports = saved_reports_for_project(
            project=project,
            kind=filters.validated_data.get("kind") or None,
            tag=filters.validated_data.get("tag") or None,
        )
        paginator = SavedReportPagination()
        page = paginator.paginate_queryset(reports, request, view=self)
        return paginator.get_paginated_response(SavedReportSerializer(page, many=True).data)

    @extend_schema(request=SavedReportWriteSerializer, responses={201: SavedReportSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Save a report; its query is validated for its kind (400 names ``query.<field>``)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = SavedReportWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        report = saved_report_create(user=request.user, project=project, **serializer.validated_data)
        return Response(SavedReportSerializer(report).data, status=status.HTTP_201_CREATED)


class SavedReportDetailView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    def _report(self, request: AuthenticatedRequest, project_id: int, report_id: int) -> SavedReport:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return saved_report_get(project=project, report_id=report_id)

    @extend_schema(responses={200: SavedReportSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, report_id: int) -> Response:
        return Response(SavedReportSerializer(self._report(request, project_id, report_id)).data)

    @extend_schema(request=SavedReportWriteSerializer, responses={200: SavedReportSerializer})
    def put(self, request: AuthenticatedRequest, project_id: int, report_id: int) -> Response:
        """Replace name, description, kind, query and tags."""
        return self._update(request, project_id, report_id, partial=False)

    @extend_schema(request=SavedReportWriteSerializer(partial=True), responses={200: SavedReportSerializer})
    def patch(self, request: AuthenticatedRequest, project_id: int, report_id: int) -> Response:
        """Change some of name, description, kind, query, tags."""
        return self._update(request, project_id, report_id, partial=True)

    def _update(self, request: AuthenticatedRequest, project_id: int, report_id: int, *, partial: bool) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        # The body is read before the report is looked up: a malformed body is a 400 either way.
        serializer = SavedReportWriteSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        report = saved_report_get(project=project, report_id=report_id)
        changes = {key: value for key, value in serializer.validated_data.items() if not partial or key in request.data}
        report = saved_report_update(user=request.user, report=report, changes=changes)
        return Response(SavedReportSerializer(report).data)

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, project_id: int, report_id: int) -> Response:
        saved_report_delete(user=request.user, report=self._report(request, project_id, report_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SavedReportResultsView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(parameters=[REFRESH], responses={200: SavedReportResultsSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, report_id: int) -> Response:
        """Run the saved report (through the result cache) and answer as its kind does, plus ``report``."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        report = saved_report_get(project=project, report_id=report_id)
        return Response(saved_report_results(report=report, refresh=wants_refresh(request.query_params, None)))


class ReportTemplatesView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: ReportTemplateSerializer(many=True)})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Ready-made reports (trends and presets) to save as they are or to start from."""
        project_get_for_user(user=request.user, project_id=project_id)
        known = set(kind_names())
        return Response([template for template in TEMPLATES if template["kind"] in known])
