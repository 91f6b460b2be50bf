"""Celery tasks of the audit log (run by beat in scale mode, in-process by `serve` in embedded mode)."""

from __future__ import annotations

from celery import shared_task

from analytics.audit.services import audit_entries_prune


@shared_task(name="analytics.audit.tasks.audit_log_prune")
def audit_log_prune() -> int:
    """Delete audit entries older than ``AUDIT_RETENTION_DAYS``."""
    return audit_entries_prune()
