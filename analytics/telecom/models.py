"""Read keys: project-scoped secrets the telecom providers read with (only a hash is stored)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from analytics.accounts.models import Project


class ReadKey(models.Model):
    """A secret that identifies one project for the provider-facing read API
    (``Authorization: Bearer rk_...`` over HTTP, ``authorization`` metadata over gRPC)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="read_keys")
    label = models.CharField(max_length=200, blank=True, default="")
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label or 'read key'} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
