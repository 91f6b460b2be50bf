"""Reads of the Django database that the store's maintenance needs."""

from __future__ import annotations

from analytics.accounts.models import Project


def project_retentions() -> list[tuple[int, int]]:
    """``(project_id, retention_days)`` of every project."""
    return list(Project.objects.order_by("id").values_list("id", "retention_days"))
