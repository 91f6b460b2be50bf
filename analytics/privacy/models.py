"""Privacy records: deletion requests, suppressed ids and each project's privacy settings.

None of them holds a person's data. A :class:`DeletionRequest` keeps a salted SHA-256 of
the distinct id it was made for (its own random salt), enough to answer "was this id
forgotten?" for someone who knows the id, never to recover it. A :class:`SuppressedId`
keeps a keyed hash (the project's salt) that ingestion compares incoming ids with.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models

from analytics.accounts.models import Project


def new_salt() -> str:
    return secrets.token_hex(16)


class DeletionState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    VERIFIED = "verified", "Verified"
    FAILED = "failed", "Failed"


class DeletionSource(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Command"


class DeletionRequest(models.Model):
    """One "forget this person" request and how far it got.

    ``pending`` (recorded, work queued) -> ``running`` -> ``done`` (events, persons,
    identities and memberships deleted, touched rollup buckets recomputed) -> ``verified``
    (nothing of the person is found any more). ``failed`` carries an error message without
    personal data; re-submitting the id starts a new request (every step is idempotent).
    ``counts`` holds figures only (rows deleted, buckets recomputed).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="deletion_requests")
    subject_salt = models.CharField(max_length=32, default=new_salt, editable=False)
    subject_hash = models.CharField(max_length=64, editable=False, db_index=True)
    state = models.CharField(max_length=16, choices=DeletionState.choices, default=DeletionState.PENDING)
    source = models.CharField(max_length=16, choices=DeletionSource.choices, default=DeletionSource.API)
    suppress = models.BooleanField(default=False, help_text="Also put the id on the project's suppression list.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"deletion {self.id} ({self.state})"


class SuppressedId(models.Model):
    """A distinct id whose events ingestion drops, stored as a keyed hash (project salt)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="suppressed_ids")
    id_hash = models.CharField(max_length=64)
    note = models.CharField(max_length=200, blank=True, default="", help_text="Why (no personal data).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "id_hash"], name="unique_suppressed_id")]

    def __str__(self) -> str:
        return f"suppressed {self.id_hash[:12]}… in project {self.project_id}"


class PrivacySettings(models.Model):
    """A project's anonymisation at ingestion and the salt of its hashes.

    ``drop_properties``: property names removed from events (and from ``$set`` /
    ``$set_once``) before they are stored. ``hash_properties``: names whose values are
    replaced by ``sha256(salt + value)`` (hex) the same way. ``salt`` is random per project
    and never shown by the API; changing it would make old and new hashes differ.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="privacy_settings")
    salt = models.CharField(max_length=32, default=new_salt, editable=False)
    drop_properties = models.JSONField(default=list, blank=True)
    hash_properties = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "privacy settings"

    def __str__(self) -> str:
        return f"privacy settings of project {self.project_id}"
