"""Saved reports: a named query of one kind (trends, lifecycle, funnels, ...) in one project.

``kind`` names a kind of :mod:`analytics.query.kinds` (registered by the app that answers
it); ``query`` is the JSON the kind validates, stored as sent (relative dates stay relative,
so a saved "last 7 days" report always shows the last 7 days). The owner is the user who
created it; when that user is deleted the report stays with the project, without owner.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from analytics.accounts.models import Project


class SavedReport(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="saved_reports")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="saved_reports"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="", max_length=5000)
    kind = models.CharField(max_length=40)
    query = models.JSONField()
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-created_at"]),
            models.Index(fields=["project", "kind", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"
