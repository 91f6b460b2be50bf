"""Request and response shapes of the segments API (validation of definitions: ``definition.py``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analytics.segments.models import Segment, SegmentImport


@extend_schema_field(
    {
        "type": "object",
        "description": 'Nested groups {"op": "and"|"or", "conditions": [...]} of person, behavioral and segment'
        " conditions (docs/segments.md).",
    }
)
class DefinitionField(serializers.JSONField):
    pass


class SegmentWriteSerializer(serializers.Serializer):
    """``{"name", "definition"}`` or ``{"name", "static": true}``; the definition is checked by the service."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    definition = DefinitionField(required=False, allow_null=True)
    static = serializers.BooleanField(required=False, default=False)
    refresh_interval_minutes = serializers.IntegerField(required=False, min_value=5, max_value=7 * 24 * 60)


class SegmentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    definition = DefinitionField(required=False)
    refresh_interval_minutes = serializers.IntegerField(required=False, min_value=5, max_value=7 * 24 * 60)


class SegmentSerializer(serializers.ModelSerializer):
    static = serializers.BooleanField(source="is_static", read_only=True)
    materialised = serializers.BooleanField(source="is_materialised", read_only=True)
    definition = DefinitionField(read_only=True, allow_null=True)

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "definition",
            "static",
            "materialised",
            "materialised_at",
            "size",
            "size_computed_at",
            "refresh_interval_minutes",
            "refreshed_at",
            "last_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SizeSerializer(serializers.Serializer):
    size = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    materialised = serializers.BooleanField(help_text="true: read from the membership computed at computed_at")


class SizePointSerializer(serializers.Serializer):
    day = serializers.DateField()
    size = serializers.IntegerField(allow_null=True, help_text="null: not computed (yet) for that day")
    backfilled = serializers.BooleanField(
        help_text="computed later from the events as of the day's end, with today's person properties"
    )


class SizeHistorySerializer(serializers.Serializer):
    points = SizePointSerializer(many=True)
    missing_days = serializers.IntegerField(help_text="past days the back-fill has yet to compute")


class MemberSerializer(serializers.Serializer):
    person_id = serializers.UUIDField()
    distinct_id = serializers.CharField(allow_null=True)
    last_seen = serializers.DateTimeField(allow_null=True)
    properties = serializers.DictField()


class MembersPageSerializer(serializers.Serializer):
    results = MemberSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="the cursor of the next page; null at the end")


class MembersQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(required=False, max_length=100)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)


class TemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    definition = DefinitionField()


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV of distinct ids: one per line, or a distinct_id column")


class ImportSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = SegmentImport
        fields = [
            "id",
            "state",
            "total_rows",
            "processed_rows",
            "imported_rows",
            "error_count",
            "errors",
            "message",
            "progress",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {"type": "object", "properties": {"processed": {"type": "integer"}, "total": {"type": "integer"}}}
    )
    def get_progress(self, job: SegmentImport) -> dict[str, Any]:
        return job.progress()
