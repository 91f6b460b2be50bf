"""Operators see every segment with its size, refresh state and last error; imports with their progress."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet

from analytics.segments.models import Segment, SegmentImport
from analytics.segments.services import segment_delete


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "project",
        "is_static",
        "size",
        "size_computed_at",
        "materialised",
        "materialised_at",
        "refreshed_at",
        "refresh_interval_minutes",
        "short_error",
    )
    list_filter = ("is_static",)
    search_fields = ("name", "project__name")
    readonly_fields = (
        "members_version",
        "last_version",
        "materialised_at",
        "size",
        "size_computed_at",
        "refreshed_at",
        "last_error",
        "created_at",
        "updated_at",
    )

    # Through the service: it drops the segment's ClickHouse rows and sets too, and bumps the
    # project's segments version so cached lookups (lookup.py) see the segment gone at once.
    def delete_model(self, request: Any, obj: Segment) -> None:
        segment_delete(segment=obj)

    def delete_queryset(self, request: Any, queryset: QuerySet[Segment]) -> None:
        for segment in queryset:
            segment_delete(segment=segment)

    @admin.display(boolean=True, description="materialised")
    def materialised(self, segment: Segment) -> bool:
        return segment.is_materialised

    @admin.display(description="last error")
    def short_error(self, segment: Segment) -> str:
        return segment.last_error[:80]


@admin.register(SegmentImport)
class SegmentImportAdmin(admin.ModelAdmin):
    list_display = ("segment", "state", "processed_rows", "total_rows", "imported_rows", "error_count", "created_at")
    list_filter = ("state",)
    exclude = ("content",)
    readonly_fields = (
        "segment",
        "state",
        "total_rows",
        "processed_rows",
        "imported_rows",
        "errors",
        "error_count",
        "message",
        "created_by",
        "finished_at",
    )
