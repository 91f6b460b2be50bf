"""The audit log: one entry per change made by a person or a key through the API or the admin.

Entries keep plain ids and copies of the actor's e-mail address and key prefix (no foreign
keys that cascade), so the record of who did what outlives the user, key, organisation or
project it names. Entries are never edited; a daily task deletes those older than
``AUDIT_RETENTION_DAYS``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class AuditSource(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    WEB = "web", "Web pages"


class AuditEntry(models.Model):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    source = models.CharField(max_length=8, choices=AuditSource.choices)
    # Who: a user (by JWT, session or the admin) and, when it acted through one, its API key.
    actor_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    actor_email = models.CharField(max_length=254, blank=True)
    api_key_id = models.BigIntegerField(null=True, blank=True)
    api_key_prefix = models.CharField(max_length=16, blank=True)
    # Where in the tenancy: found from the changed rows or the URL; empty for a user's own things.
    organisation_id = models.BigIntegerField(null=True, blank=True)
    project_id = models.BigIntegerField(null=True, blank=True)
    # What: the request and the rows it changed.
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=500)
    view = models.CharField(max_length=200, blank=True)
    status_code = models.PositiveSmallIntegerField()
    # Each: {"model", "id", "repr", "action": created|updated|deleted, "fields": {name: [before, after]}}.
    changes = models.JSONField(default=list, blank=True)
    # From where.
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["organisation_id", "created_at"])]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"

    def __str__(self) -> str:
        who = self.actor_email or "anonymous"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.method} {self.path}"
