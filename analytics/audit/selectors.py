"""Reads for the audit log."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from analytics.accounts.models import MANAGING_ROLES, Membership, Organisation, User
from analytics.accounts.selectors import acting_api_key
from analytics.audit.models import AuditEntry
from analytics.core.errors import ApplicationError, NotFound


class AuditForbidden(ApplicationError):
    status_code = 403
    code = "permission_denied"


def organisation_get_for_audit(*, user: User, organisation_id: int) -> Organisation:
    """The organisation if the user owns or administers it; 404 for a non-member, 403 for others.

    Through a personal API key, only the key's own organisation (404 for any other).
    """
    key = acting_api_key(user)
    if key is not None and key.organisation_id != organisation_id:
        raise NotFound("organisation not found")
    membership = (
        Membership.objects.select_related("organisation").filter(user=user, organisation_id=organisation_id).first()
    )
    if membership is None:
        raise NotFound("organisation not found")
    if membership.role not in MANAGING_ROLES:
        raise AuditForbidden("only owners and admins of the organisation can read its audit log")
    return membership.organisation


def audit_entries_for_organisation(
    *, organisation: Organisation, start: datetime | None = None, end: datetime | None = None
) -> QuerySet[AuditEntry]:
    """The organisation's entries in ``[start, end)``, oldest first."""
    entries = AuditEntry.objects.filter(organisation_id=organisation.pk)
    if start is not None:
        entries = entries.filter(created_at__gte=start)
    if end is not None:
        entries = entries.filter(created_at__lt=end)
    return entries.order_by("created_at", "id")
