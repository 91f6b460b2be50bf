"""Segments: saved definitions of "which users", their imports and their size history.

A segment is either **dynamic** (``definition``: nested AND/OR groups of conditions,
``analytics/segments/definition.py``) or **static** (``is_static``: an uploaded list of
distinct ids, kept in ClickHouse's ``segment_static_members``).

A dynamic segment is computed at query time until its size exceeds
``SEGMENT_MATERIALISE_THRESHOLD``; the refresh task then writes its members into
ClickHouse's ``segment_members`` under a new version and sets ``members_version`` to it
(``None``: not materialised). Readers select only ``members_version``, so a version being
written is never visible.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from analytics.accounts.models import Project

DEFAULT_REFRESH_MINUTES = 60


class Segment(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="segments")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    definition = models.JSONField(null=True, blank=True, help_text="Nested groups of conditions; empty if static.")
    is_static = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    refresh_interval_minutes = models.PositiveIntegerField(
        default=DEFAULT_REFRESH_MINUTES,
        validators=[MinValueValidator(5), MaxValueValidator(7 * 24 * 60)],
        help_text="How often the refresh task recomputes the size (and the members, if materialised).",
    )
    # Materialisation state (written by services only).
    members_version = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Current version in segment_members; empty: computed at query time."
    )
    last_version = models.PositiveBigIntegerField(default=0, help_text="Highest version ever allocated.")
    materialised_at = models.DateTimeField(null=True, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    size_computed_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    refreshing_since = models.DateTimeField(null=True, blank=True, help_text="Set while a refresh runs (a lease).")
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["project", "name"]), models.Index(fields=["refreshed_at"])]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def is_materialised(self) -> bool:
        return self.members_version is not None


class SegmentSize(models.Model):
    """The size of a segment on one day (UTC): recorded whenever it is computed that day (the
    last wins), or back-filled for a past day that has none (``backfilled``)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    day = models.DateField()
    size = models.PositiveBigIntegerField()
    computed_at = models.DateTimeField()
    backfilled = models.BooleanField(
        default=False,
        help_text="Computed later from the events as of the day's end (with today's person properties).",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "day"], name="segment_size_one_per_day")]

    def __str__(self) -> str:
        return f"segment {self.segment_id} on {self.day}: {self.size}"


class SegmentImport(models.Model):
    """One CSV upload into a static segment: progress the client polls, and the rows refused."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="imports")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    imported_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text='[{"line": n, "error": "..."}] (first 1000)')
    error_count = models.PositiveIntegerField(default=0)
    content = models.BinaryField(null=True, blank=True, editable=False, help_text="The upload, until imported.")
    message = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.pk} into segment {self.segment_id} ({self.state})"

    def progress(self) -> dict[str, Any]:
        return {
            "processed": self.processed_rows,
            "total": self.total_rows,
            "fraction": round(self.processed_rows / self.total_rows, 4) if self.total_rows else 0.0,
        }


class RetiredMembership(models.Model):
    """Membership data no reader takes any more, kept for the queries that named it just before.

    Written when a version stops being current (a flip, a return to query time, a new
    definition) or a segment is deleted; the clean-up task drops the rows and loaded sets
    it covers once ``SEGMENT_SET_GRACE_SECONDS`` have passed (``services.retired_drop``).
    Plain ids, not foreign keys: a deleted segment's data outlives its row.
    """

    project_id = models.PositiveBigIntegerField()
    segment_id = models.PositiveBigIntegerField()
    below = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Versions below this one (never the current one); empty: the segment is deleted.",
    )
    is_static = models.BooleanField(default=False, help_text="A deleted static segment: its imported ids go too.")
    retired_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["retired_at"])]

    def __str__(self) -> str:
        what = "every version" if self.below is None else f"versions below {self.below}"
        return f"segment {self.segment_id}: {what}, retired {self.retired_at:%Y-%m-%d %H:%M:%S}"
