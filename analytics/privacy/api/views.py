"""The privacy API: forget a person, follow the request, export a person, suppression, settings.

Every view resolves the project through ``project_get_for_user`` (404 for non-members).
Forgetting, exporting and changing settings or the suppression list need an owner or admin
(403 otherwise); personal API keys only read. The distinct id is part of the path
(URL-encoded; it may contain ``/``).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.permissions import IsAuthenticatedApiKeysReadOnly
from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.services import project_require_manager
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.pagination import CursorPagination, cursor_page_schema
from analytics.privacy import selectors, services
from analytics.privacy.models import DeletionRequest, PrivacySettings, SuppressedId
from analytics.warehouse.store import get_store


class DeletionCreateSerializer(serializers.Serializer):
    suppress = serializers.BooleanField(
        required=False, default=False, help_text="also drop this id's future events (the suppression list)"
    )


class DeletionAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    state = serializers.CharField()


class DeletionSerializer(serializers.ModelSerializer):
    # Plain text, not an enum: "source" is an enum of other components in the schema.
    source = serializers.CharField(  # type: ignore[assignment]  # a field named like Field.source
        read_only=True, help_text="api, admin or command"
    )

    class Meta:
        model = DeletionRequest
        fields = ["id", "state", "source", "suppress", "counts", "error", "created_at", "done_at", "verified_at"]
        read_only_fields = fields


class DeletionPagination(CursorPagination):
    page_size = 50


class PersonDeleteView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(request=DeletionCreateSerializer, responses={202: DeletionAcceptedSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int, distinct_id: str) -> Response:
        """Forget the person of ``distinct_id``: their events, person record, identities and
        segment memberships; touched rollup buckets are recomputed. Follow the returned id at
        ``deletions/{id}`` (pending, running, done, verified; or failed)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        body = DeletionCreateSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        deletion = services.deletion_request(
            project=project, distinct_id=distinct_id, user=request.user, suppress=body.validated_data["suppress"]
        )
        deletion.refresh_from_db(fields=["state"])  # eager mode (embedded) has done the work already
        return Response({"id": str(deletion.id), "state": deletion.state}, status=status.HTTP_202_ACCEPTED)


class DeletionListView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: cursor_page_schema(DeletionSerializer)})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """The project's deletion requests, newest first (cursor pages)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        paginator = DeletionPagination()
        page = paginator.paginate_queryset(selectors.deletions_for_project(project=project), request, view=self)
        return paginator.get_paginated_response(DeletionSerializer(page, many=True).data)


class DeletionDetailView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: DeletionSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, deletion_id: str) -> Response:
        """One deletion request: its state, figures (rows deleted, buckets recomputed) and error."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(DeletionSerializer(selectors.deletion_get(project=project, deletion_id=deletion_id)).data)


class PersonExportSerializer(serializers.Serializer):
    project_id = serializers.IntegerField()
    distinct_id = serializers.CharField()
    exported_at = serializers.DateTimeField()
    distinct_ids = serializers.ListField(child=serializers.CharField())
    persons = serializers.ListField(child=serializers.DictField())
    sessions = serializers.ListField(child=serializers.DictField())
    events = serializers.ListField(child=serializers.DictField())
    events_complete = serializers.BooleanField()


class PersonExportView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: PersonExportSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int, distinct_id: str) -> Response:
        """Everything stored about the person of ``distinct_id`` (a subject-access request):
        their distinct ids, person properties, sessions and events, as JSON."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        distinct_id = services.valid_distinct_id(distinct_id)
        export = selectors.person_export(store=get_store(), project=project, distinct_id=distinct_id)
        response = Response(export)
        response["Content-Disposition"] = f'attachment; filename="person-export-{project.id}.json"'
        return response


class SuppressedIdSerializer(serializers.ModelSerializer):
    class Meta:
        model = SuppressedId
        fields = ["id", "id_hash", "note", "created_at"]
        read_only_fields = fields


class SuppressionCreateSerializer(serializers.Serializer):
    distinct_id = serializers.CharField(max_length=200, trim_whitespace=False)
    note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)


class SuppressionListView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: SuppressedIdSerializer(many=True)})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """The suppression list (hashes only: the ids themselves are not kept)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        entries = selectors.suppressed_ids_for_project(project=project)
        return Response(SuppressedIdSerializer(entries, many=True).data)

    @extend_schema(request=SuppressionCreateSerializer, responses={201: SuppressedIdSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Suppress an id: ingestion drops its events from now on (within a second everywhere)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        body = SuppressionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        entry = services.suppression_add(project=project, user=request.user, **body.validated_data)
        return Response(SuppressedIdSerializer(entry).data, status=status.HTTP_201_CREATED)


class SuppressionDetailView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={204: None})
    def delete(self, request: AuthenticatedRequest, project_id: int, entry_id: int) -> Response:
        """Take an id off the list: its events are stored again."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        selectors.suppressed_entry_get(project=project, entry_id=entry_id)
        services.suppression_remove(project=project, entry_id=entry_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PrivacySettingsSerializer(serializers.ModelSerializer):
    retention_days = serializers.IntegerField(
        source="project.retention_days", read_only=True, help_text="change it in the project's settings"
    )
    keep_full_ip = serializers.BooleanField(
        source="project.keep_full_ip", read_only=True, help_text="false: IPs are stored anonymised (docs/privacy.md)"
    )

    class Meta:
        model = PrivacySettings
        fields = ["drop_properties", "hash_properties", "retention_days", "keep_full_ip", "updated_at"]
        read_only_fields = ["retention_days", "keep_full_ip", "updated_at"]


class PrivacySettingsUpdateSerializer(serializers.Serializer):
    drop_properties = serializers.ListField(child=serializers.JSONField(), required=False, max_length=100)
    hash_properties = serializers.ListField(child=serializers.JSONField(), required=False, max_length=100)


class PrivacySettingsView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(responses={200: PrivacySettingsSerializer})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Which properties ingestion drops or hashes, the retention and the IP handling."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(PrivacySettingsSerializer(services.privacy_settings_get(project=project)).data)

    @extend_schema(request=PrivacySettingsUpdateSerializer, responses={200: PrivacySettingsSerializer})
    def patch(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Change the properties to drop or hash (sha256 with the project's salt) at ingestion."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        body = PrivacySettingsUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        settings = services.privacy_settings_update(project=project, user=request.user, **body.validated_data)
        return Response(PrivacySettingsSerializer(settings).data)
