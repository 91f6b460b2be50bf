"""Operators see every segment with its size, refresh state and last error; imports with their progress."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from rest_framework import serializers

from analytics.core.timeutils import utc_now
from analytics.segments.models import RetiredMembership, Segment, SegmentImport
from analytics.segments.selectors import HISTORY_DAYS, history_days
from analytics.segments.services import definition_check, segment_delete, segment_update


class SegmentForm(forms.ModelForm):
    """A changed definition is checked as the API checks it (shape, limits, references, cycles)."""

    class Meta:
        model = Segment
        fields = ("project", "name", "description", "is_static", "definition", "refresh_interval_minutes")

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        definition, project = cleaned.get("definition"), cleaned.get("project")
        if "definition" not in self.changed_data or project is None:
            return cleaned
        if cleaned.get("is_static"):
            if definition is not None:
                self.add_error("definition", "a static segment has no definition")
        elif definition is None:
            self.add_error("definition", "required unless the segment is static")
        else:
            try:
                cleaned["definition"] = definition_check(
                    project=project, definition=definition, segment_id=self.instance.pk
                )
            except serializers.ValidationError as error:
                detail = (
                    error.detail.get("definition", error.detail) if isinstance(error.detail, dict) else error.detail
                )
                self.add_error("definition", str(detail))
        return cleaned


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
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
        "history",
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

    def get_queryset(self, request: Any) -> QuerySet[Segment]:
        past = history_days(utc_now().date())[:-1]
        recorded = Count("sizes", filter=Q(sizes__day__gte=past[0], sizes__day__lte=past[-1]))
        return super().get_queryset(request).annotate(history_recorded=recorded)

    @admin.display(description="size history")
    def history(self, obj: Segment) -> str:
        """Past days with a size: the back-fill's progress (history.py); a list has none."""
        if obj.is_static:
            return "-"
        return f"{getattr(obj, 'history_recorded', 0)} of {HISTORY_DAYS - 1} past days"

    # A new definition goes through the service as in the API: back to query time, the
    # materialised versions retired, the project's segments version bumped so cached
    # lookups (lookup.py) stop naming the old version's set.
    def save_model(self, request: Any, obj: Segment, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change and "definition" in form.changed_data and not obj.is_static:
            segment_update(segment=obj, definition=obj.definition)

    # Through the service: it retires the segment's ClickHouse rows and sets too, and bumps
    # the project's segments version so cached lookups (lookup.py) see the segment gone at once.
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


@admin.register(RetiredMembership)
class RetiredMembershipAdmin(admin.ModelAdmin):
    """Read-only: what the clean-up task will drop once SEGMENT_SET_GRACE_SECONDS have passed."""

    list_display = ("segment_id", "project_id", "below", "is_static", "retired_at")

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False  # a retirement deleted by hand would leave its rows and sets forever


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
