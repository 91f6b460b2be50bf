"""Operators forget persons, keep the suppression list and set anonymisation here.

"Add deletion request" takes a project and a distinct id (the id is hashed, never stored)
and runs the same service as the API; the list shows every request's state. Suppressed ids
are added by id and shown by hash. Saving privacy settings reaches ingestion within a second.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from analytics.core.errors import ApplicationError
from analytics.privacy import services
from analytics.privacy.models import DeletionRequest, DeletionSource, PrivacySettings, SuppressedId
from analytics.privacy.policy import privacy_changed


class DeletionRequestForm(forms.ModelForm):
    distinct_id = forms.CharField(max_length=200, strip=False, help_text="Hashed on save; never stored.")

    class Meta:
        model = DeletionRequest
        fields = ["project", "suppress"]

    def clean_distinct_id(self) -> str:
        try:
            return services.valid_distinct_id(self.cleaned_data["distinct_id"])
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from None


@admin.register(DeletionRequest)
class DeletionRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "state", "source", "suppress", "created_at", "done_at", "verified_at")
    list_filter = ("state", "source")
    search_fields = ("project__name",)
    readonly_fields = (
        "id",
        "project",
        "state",
        "source",
        "suppress",
        "subject_hash",
        "requested_by",
        "counts",
        "error",
        "created_at",
        "done_at",
        "verified_at",
    )

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = DeletionRequestForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["project", "distinct_id", "suppress"] if obj is None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: DeletionRequest, form: Any, change: bool) -> None:
        if change:
            return  # requests are never edited
        created = services.deletion_request(
            project=form.cleaned_data["project"],
            distinct_id=form.cleaned_data["distinct_id"],
            user=request.user if request.user.is_authenticated else None,
            source=DeletionSource.ADMIN,
            suppress=form.cleaned_data["suppress"],
            check_role=False,
        )
        obj.pk = created.pk  # the admin's "added" message and redirect point at it
        obj._state.adding = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request, obj)


class SuppressedIdForm(forms.ModelForm):
    distinct_id = forms.CharField(max_length=200, strip=False, help_text="Hashed with the project's salt.")

    class Meta:
        model = SuppressedId
        fields = ["project", "note"]


@admin.register(SuppressedId)
class SuppressedIdAdmin(admin.ModelAdmin):
    list_display = ("project", "short_hash", "note", "created_at")
    search_fields = ("project__name", "note", "id_hash")
    readonly_fields = ("project", "id_hash", "note", "created_by", "created_at")

    @admin.display(description="id hash")
    def short_hash(self, entry: SuppressedId) -> str:
        return entry.id_hash[:16] + "…"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = SuppressedIdForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else self.readonly_fields

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["project", "distinct_id", "note"] if obj is None else list(self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: SuppressedId, form: Any, change: bool) -> None:
        if change:
            return
        try:
            entry = services.suppression_add(
                project=form.cleaned_data["project"],
                distinct_id=form.cleaned_data["distinct_id"],
                user=request.user if request.user.is_authenticated else None,
                note=form.cleaned_data.get("note") or "",
            )
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from None
        obj.pk = entry.pk
        obj._state.adding = False

    def delete_model(self, request: HttpRequest, obj: SuppressedId) -> None:
        super().delete_model(request, obj)
        transaction.on_commit(privacy_changed)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        super().delete_queryset(request, queryset)
        transaction.on_commit(privacy_changed)


class PrivacySettingsForm(forms.ModelForm):
    class Meta:
        model = PrivacySettings
        fields = ["project", "drop_properties", "hash_properties"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for field in ("drop_properties", "hash_properties"):
            try:
                cleaned[field] = services.property_names(cleaned.get(field) or [], field)
            except ApplicationError as error:
                self.add_error(field, error.message)
        both = set(cleaned.get("drop_properties") or ()) & set(cleaned.get("hash_properties") or ())
        if both:
            self.add_error("hash_properties", f"a property is either dropped or hashed, not both: {sorted(both)}")
        return cleaned


@admin.register(PrivacySettings)
class PrivacySettingsAdmin(admin.ModelAdmin):
    form = PrivacySettingsForm
    list_display = ("project", "drop_properties", "hash_properties", "updated_at")
    search_fields = ("project__name",)

    def save_model(self, request: HttpRequest, obj: PrivacySettings, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        transaction.on_commit(privacy_changed)
