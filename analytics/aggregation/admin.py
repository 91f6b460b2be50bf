"""Operators see every stream's watermark and last run; schedules are edited under
"Periodic tasks" (django-celery-beat's admin)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from analytics.aggregation.models import Watermark


@admin.register(Watermark)
class WatermarkAdmin(admin.ModelAdmin):
    list_display = (
        "project",
        "granularity",
        "event_time_mark",
        "inserted_mark",
        "last_run_at",
        "last_run_seconds",
        "last_run_events",
        "last_run_late_events",
        "short_error",
    )
    list_filter = ("granularity",)
    search_fields = ("project__name",)
    readonly_fields = (
        "project",
        "granularity",
        "inserted_mark",
        "last_run_at",
        "last_run_seconds",
        "last_run_events",
        "last_run_late_events",
        "last_error",
        "updated_at",
    )
    actions = ["reset_watermark"]

    @admin.display(description="last error")
    def short_error(self, watermark: Watermark) -> str:
        return watermark.last_error[:80]

    @admin.action(description="Reset: recompute these streams from their first event")
    def reset_watermark(self, request: HttpRequest, queryset: QuerySet[Watermark]) -> None:
        # The next run starts at the project's first event and replaces every bucket it writes.
        updated = queryset.update(event_time_mark=None, inserted_mark=None)
        self.message_user(request, f"{updated} stream(s) will be recomputed by their next run.")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
