"""Ingestion metadata kept in the Django database: per-project event schemas."""

from __future__ import annotations

from django.db import models

PROPERTY_TYPES = ("string", "number", "integer", "boolean", "object", "array", "datetime")


class EventSchema(models.Model):
    """The required properties and their types for one event name of one project.

    ``properties`` maps a property name to ``{"type": <one of PROPERTY_TYPES>, "required": bool}``.
    Events of that name that break it are rejected with the property named.
    """

    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="event_schemas")
    event_name = models.CharField(max_length=200)
    properties = models.JSONField(default=dict)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "event_name"], name="unique_event_schema_per_project")
        ]
        ordering = ["project_id", "event_name"]

    def __str__(self) -> str:
        return f"{self.event_name} (project {self.project_id})"
