"""``/api/v1/projects/{id}/segments/``: CRUD, members, sizes, templates and CSV imports.

Members of a project read (personal API keys too); owners, admins and members write.
Another project's segment is a 404.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import orjson
from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.models import EDITING_ROLES, Project
from analytics.accounts.permissions import IsAuthenticatedApiKeysReadOnly
from analytics.accounts.selectors import project_get_for_user, role_for
from analytics.accounts.services import PermissionDeniedError
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.errors import NotFound
from analytics.segments import selectors, services, tasks
from analytics.segments.api.serializers import (
    ImportSerializer,
    MembersPageSerializer,
    MembersQuerySerializer,
    SegmentSerializer,
    SegmentUpdateSerializer,
    SegmentWriteSerializer,
    SizeHistorySerializer,
    SizeSerializer,
    TemplateSerializer,
    UploadSerializer,
)
from analytics.segments.models import Segment, SegmentImport
from analytics.segments.presets import PRESETS


def _editable_project(request: AuthenticatedRequest, project_id: int) -> Project:
    project = project_get_for_user(user=request.user, project_id=project_id)
    role = role_for(user=request.user, project=project) or "none"
    if role not in EDITING_ROLES:
        raise PermissionDeniedError(f"your role ({role}) cannot change segments")
    return project


def _segment(request: AuthenticatedRequest, project_id: int, segment_id: int, *, edit: bool = False) -> Segment:
    project = (
        _editable_project(request, project_id)
        if edit
        else project_get_for_user(user=request.user, project_id=project_id)
    )
    return selectors.segment_get(project=project, segment_id=segment_id)


class SegmentListView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: SegmentSerializer(many=True)})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """The project's segments, newest first."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(SegmentSerializer(selectors.segment_list(project=project), many=True).data)

    @extend_schema(request=SegmentWriteSerializer, responses={201: SegmentSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Create a segment: ``{"name", "definition"}`` or ``{"name", "static": true}``."""
        project = _editable_project(request, project_id)
        serializer = SegmentWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        segment = services.segment_create(
            project=project,
            name=data["name"],
            description=data.get("description", ""),
            definition=data.get("definition"),
            is_static=data["static"],
            refresh_interval_minutes=data.get("refresh_interval_minutes"),
            created_by=request.user,
        )
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentTemplatesView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: TemplateSerializer(many=True)})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Preset definitions to copy into a new segment."""
        project_get_for_user(user=request.user, project_id=project_id)
        return Response(TemplateSerializer(PRESETS, many=True).data)


class SegmentDetailView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: SegmentSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        return Response(SegmentSerializer(_segment(request, project_id, id)).data)

    @extend_schema(request=SegmentUpdateSerializer, responses={200: SegmentSerializer})
    def patch(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """Change name, description, refresh interval or definition (dynamic segments)."""
        project = _editable_project(request, project_id)
        serializer = SegmentUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        segment = selectors.segment_get(project=project, segment_id=id)
        segment = services.segment_update(segment=segment, **serializer.validated_data)
        return Response(SegmentSerializer(segment).data)

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """Delete; reports filtered by it then answer 400 "segment N no longer exists"."""
        services.segment_delete(segment=_segment(request, project_id, id, edit=True))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentSizeView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: SizeSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """The number of members, and when it was computed (now, unless materialised)."""
        return Response(SizeSerializer(selectors.segment_size(segment=_segment(request, project_id, id))).data)


class SegmentSizeHistoryView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: SizeHistorySerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """The size on each of the last 90 days (UTC): recorded that day by the refresh, or
        back-filled from the events as of the day's end (``backfilled``); ``missing_days``
        counts the days the back-fill task has yet to reach."""
        segment = _segment(request, project_id, id)
        return Response(selectors.segment_size_history(segment=segment))


class SegmentRefreshView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(request=None, responses={200: SegmentSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """Recompute now (materialising above the threshold) instead of waiting for the schedule."""
        segment = services.segment_refresh(segment=_segment(request, project_id, id, edit=True))
        segment.refresh_from_db()
        return Response(SegmentSerializer(segment).data)


class SegmentMembersView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(parameters=[MembersQuerySerializer], responses={200: MembersPageSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """Members by person id, ``limit`` per page; pass ``next`` back as ``cursor``."""
        segment = _segment(request, project_id, id)
        query = MembersQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        cursor = query.validated_data.get("cursor")
        after = selectors.decode_cursor(cursor) if cursor else None
        members, next_cursor = selectors.segment_members_page(
            segment=segment, after=after, limit=query.validated_data["limit"]
        )
        return Response({"results": members, "next": next_cursor})


class SegmentMembersCsvView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(description="person_id,distinct_id,last_seen,properties")}
    )
    def get(self, request: AuthenticatedRequest, project_id: int, id: int) -> StreamingHttpResponse:
        """Every member as CSV, streamed page by page."""
        segment = _segment(request, project_id, id)
        response = StreamingHttpResponse(_csv_lines(segment), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="segment-{segment.id}-members.csv"'
        return response


class _Line:
    def write(self, value: str) -> str:
        return value


def _csv_lines(segment: Segment) -> Iterator[str]:
    # One query for every member (one pass over the events for distinct ids and last seen),
    # then streamed out line by line.
    writer = csv.writer(_Line())
    members, _ = selectors.segment_members_page(segment=segment, after=None, limit=None)
    yield writer.writerow(["person_id", "distinct_id", "last_seen", "properties"])
    for member in members:
        yield writer.writerow(
            [
                member["person_id"],
                member["distinct_id"] or "",
                member["last_seen"] or "",
                orjson.dumps(member["properties"]).decode(),
            ]
        )


class SegmentImportListView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: ImportSerializer(many=True)})
    def get(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        segment = _segment(request, project_id, id)
        return Response(ImportSerializer(segment.imports.order_by("-created_at")[:50], many=True).data)

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={202: ImportSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """Upload a CSV of distinct ids into a static segment; poll the import for progress
        and the rows refused (with line numbers)."""
        project = _editable_project(request, project_id)
        upload = UploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        segment = selectors.segment_get(project=project, segment_id=id)
        job = services.import_create(
            segment=segment, content=upload.validated_data["file"].read(), created_by=request.user
        )
        transaction.on_commit(lambda: tasks.segment_import_run.delay(job.id))
        return Response(ImportSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class SegmentImportDetailView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: ImportSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, id: int) -> Response:
        """One import: state, progress, rows imported and the rows refused with line numbers."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        job = SegmentImport.objects.filter(segment__project=project, id=id).first()
        if job is None:
            raise NotFound(f"import {id} not found")
        return Response(ImportSerializer(job).data)
