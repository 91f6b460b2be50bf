"""Saved reports in the admin: listed per project and kind, searchable; the owner is read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from analytics.core.errors import ApplicationError
from analytics.query.models import SavedReport
from analytics.query.saved_reports import clean_tags, validate_report_query


class SavedReportForm(forms.ModelForm):
    """Checks the kind and query as the API does, so an edit here cannot save a report that fails to run."""

    class Meta:
        model = SavedReport
        fields = ["project", "name", "description", "kind", "query", "tags"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        project, kind = data.get("project"), data.get("kind")
        try:
            if project is not None and kind:
                validate_report_query(project=project, kind=kind, query=data.get("query"))
            data["tags"] = clean_tags(data.get("tags") or [])
        except ApplicationError as error:
            fields = error.extra.get("fields", {})
            for field in ("kind", "query", "tags"):
                if field in fields:
                    self.add_error(field, str(fields[field]))
            if not fields:
                raise forms.ValidationError(error.message) from None
        return data


@admin.register(SavedReport)
class SavedReportAdmin(admin.ModelAdmin):
    form = SavedReportForm
    list_display = ("name", "kind", "project", "owner", "tag_list", "updated_at", "created_at")
    list_filter = ("kind", "project")
    search_fields = ("name", "description", "project__name", "owner__email")
    readonly_fields = ("owner", "created_at", "updated_at")
    list_select_related = ("project", "owner")
    ordering = ("-created_at",)

    @admin.display(description="tags")
    def tag_list(self, report: SavedReport) -> str:
        return ", ".join(report.tags or [])
