"""Writes for the audit log: record an entry, delete entries past retention."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty
from rest_framework.throttling import BaseThrottle

from analytics.accounts.models import PersonalApiKey, Project
from analytics.audit.models import AuditEntry, AuditSource
from analytics.core.logging import get_logger

log = get_logger(__name__)

MAX_USER_AGENT = 300
MAX_PATH = 500


def _client_ip(request: HttpRequest) -> str | None:
    # DRF's identification honours NUM_PROXIES (TRUSTED_PROXY_COUNT): a forged header changes nothing.
    ident = BaseThrottle().get_ident(request)  # type: ignore[arg-type]  # reads request.META only
    if not ident:  # no REMOTE_ADDR (e.g. a request built in-process)
        return None
    try:
        return str(ipaddress.ip_address(ident.strip()))
    except ValueError:
        return None


def _source(path: str) -> str:
    if path.startswith("/admin/"):
        return AuditSource.ADMIN
    if path.startswith("/api/"):
        return AuditSource.API
    return AuditSource.WEB


def _tenancy(
    changes: list[dict[str, Any]], view_kwargs: dict[str, Any], key: PersonalApiKey | None
) -> tuple[int | None, int | None]:
    """The organisation and project of a request: its rows first, then its URL, then its key."""
    organisation_id = next((c["organisation_id"] for c in changes if c.get("organisation_id")), None)
    project_id = next((c["project_id"] for c in changes if c.get("project_id")), None)
    if project_id is None:
        raw = view_kwargs.get("project_id")
        project_id = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
    if organisation_id is None and project_id is not None:
        organisation_id = Project.objects.filter(pk=project_id).values_list("organisation_id", flat=True).first()
    if organisation_id is None and key is not None:
        organisation_id = key.organisation_id
    return organisation_id, project_id


def _never_looked_at(user: Any) -> bool:
    return isinstance(user, SimpleLazyObject) and user._wrapped is empty


def audit_entry_record(*, request: HttpRequest, status_code: int, changes: list[dict[str, Any]]) -> AuditEntry | None:
    """Record one request if it succeeded and a signed-in user made it or it changed rows."""
    user = getattr(request, "user", None)
    if status_code >= 400 or (not changes and _never_looked_at(user)):
        # Nobody asked who this was (event intake, say): asking now would load the session.
        return None
    authenticated = bool(user is not None and user.is_authenticated)
    if status_code >= 400 or not (authenticated or changes):
        return None
    auth = getattr(request, "auth", None)
    key = auth if isinstance(auth, PersonalApiKey) else None
    view_name, view_kwargs = getattr(request, "audit_view", ("", {}))
    organisation_id, project_id = _tenancy(changes, view_kwargs, key)
    return AuditEntry.objects.create(
        source=_source(request.path),
        actor_id=user.pk if authenticated and user is not None else None,
        actor_email=(getattr(user, "email", "") or "") if authenticated else "",
        api_key_id=key.pk if key else None,
        api_key_prefix=key.prefix if key else "",
        organisation_id=organisation_id,
        project_id=project_id,
        method=(request.method or "")[:8],
        path=request.path[:MAX_PATH],
        view=view_name[:200],
        status_code=status_code,
        changes=changes,
        ip=_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:MAX_USER_AGENT],
    )


def audit_entries_prune(*, retention_days: int | None = None) -> int:
    """Delete entries older than the retention (``AUDIT_RETENTION_DAYS``); returns how many."""
    days = retention_days if retention_days is not None else settings.AUDIT_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = AuditEntry.objects.filter(created_at__lt=cutoff).delete()
    if deleted:
        log.info("audit.pruned", deleted=deleted, retention_days=days)
    return deleted
