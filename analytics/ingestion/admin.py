from typing import Any

from django import forms
from django.contrib import admin

from analytics.ingestion.models import EventSchema
from analytics.ingestion.schema_checks import validate_spec
from analytics.ingestion.selectors import forget_local


class EventSchemaForm(forms.ModelForm):
    class Meta:
        model = EventSchema
        fields = ["project", "event_name", "properties", "description"]

    def clean_properties(self) -> Any:
        try:
            return validate_spec(self.cleaned_data["properties"])
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None


@admin.register(EventSchema)
class EventSchemaAdmin(admin.ModelAdmin):
    form = EventSchemaForm
    list_display = ("event_name", "project", "updated_at")
    list_filter = ("project",)
    search_fields = ("event_name",)

    def save_model(self, request: Any, obj: EventSchema, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        forget_local(project_id=obj.project_id)
