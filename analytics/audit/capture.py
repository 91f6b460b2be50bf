"""Which rows a request changed, with the values before and after (model signals).

:class:`~analytics.audit.middleware.AuditMiddleware` opens a collector for every request
that may change something (any method but GET/HEAD/OPTIONS/TRACE); while it is open, the
``pre_save``/``post_save`` signals of every audited model, and ``post_delete`` of those the
admin manages (see :func:`connect_signals`), append one change each. ``queryset.update()``,
``bulk_create`` and fast deletes send no signals: the request itself is still logged,
without a diff.

Secrets never reach the log: a field whose name says password, hash, secret or token is
written as ``"***"`` (so the log shows that it changed, not its value).
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from contextvars import ContextVar
from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models.signals import post_delete, post_save, pre_save

# App labels whose models are bookkeeping, not things people change.
NOT_AUDITED_APPS = frozenset({"audit", "admin", "sessions", "contenttypes", "token_blacklist"})
# Fields that change on their own (log-in time, key use) and would bury the real changes.
NOISE_FIELDS = frozenset({"last_login", "last_used_at", "date_changed", "last_run_at", "total_run_count"})
SECRET_MARKERS = ("password", "hash", "secret", "token")
MASK = "***"
MAX_REPR = 200

_changes: ContextVar[list[dict[str, Any]] | None] = ContextVar("audit_changes", default=None)


def open_collector() -> Any:
    """Start collecting this context's changes; returns the token for :func:`close_collector`."""
    return _changes.set([])


def close_collector(token: Any) -> list[dict[str, Any]]:
    """Stop collecting; the changes collected since :func:`open_collector`."""
    collected = _changes.get() or []
    _changes.reset(token)
    return collected


def _audited(sender: type[models.Model]) -> bool:
    meta = sender._meta
    return not meta.proxy and meta.app_label not in NOT_AUDITED_APPS


def _plain(value: Any) -> Any:
    """A JSON-safe copy of a field value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return str(value)


def _secret(name: str) -> bool:
    lowered = name.lower()
    return any(marker in lowered for marker in SECRET_MARKERS)


def _snapshot(instance: models.Model) -> dict[str, Any]:
    values = {}
    for field in instance._meta.concrete_fields:
        if field.primary_key or field.name in NOISE_FIELDS:
            continue
        values[field.attname] = _plain(getattr(instance, field.attname, None))
    return values


def _diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, list[Any]]:
    names = list((after or before or {}).keys())
    fields = {}
    for name in names:
        old = before.get(name) if before else None
        new = after.get(name) if after else None
        if old == new:
            continue
        fields[name] = [MASK, MASK] if _secret(name) else [old, new]
    return fields


def _tenancy(instance: models.Model) -> dict[str, int | None]:
    """The organisation and project a row belongs to, when its own columns say."""
    meta = instance._meta
    organisation_id = getattr(instance, "organisation_id", None)
    project_id = getattr(instance, "project_id", None)
    if meta.label_lower == "accounts.organisation":
        organisation_id = instance.pk
    elif meta.label_lower == "accounts.project":
        project_id = instance.pk
    return {"organisation_id": organisation_id, "project_id": project_id}


def _record(instance: models.Model, action: str, fields: dict[str, list[Any]]) -> None:
    collected = _changes.get()
    if collected is None or (action == "updated" and not fields):
        return
    collected.append(
        {
            "model": instance._meta.label_lower,
            "id": _plain(instance.pk),
            "repr": str(instance)[:MAX_REPR],
            "action": action,
            "fields": fields,
            **_tenancy(instance),
        }
    )


def _before_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **kwargs: Any) -> None:
    if _changes.get() is None or raw or not _audited(sender):
        return
    previous = None
    if not instance._state.adding and instance.pk is not None:
        stored = sender._default_manager.filter(pk=instance.pk).first()
        previous = _snapshot(stored) if stored is not None else None
    instance._audit_before = previous  # type: ignore[attr-defined]  # carried to _after_save


def _after_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if _changes.get() is None or raw or not _audited(sender):
        return
    before = None if created else getattr(instance, "_audit_before", None)
    _record(instance, "created" if created else "updated", _diff(before, _snapshot(instance)))


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if _changes.get() is None or not _audited(sender):
        return
    _record(instance, "deleted", _diff(_snapshot(instance), None))


def connect_signals() -> None:
    """Saves of every model; deletes of the models operators manage (those in the admin).

    A delete receiver makes Django load and delete a model's rows one by one instead of
    in one statement, even in cascades; bulk rows (rollups, memberships) must keep the
    fast path, so only the admin's models, which people edit, get one.
    """
    pre_save.connect(_before_save, dispatch_uid="audit.before_save")
    post_save.connect(_after_save, dispatch_uid="audit.after_save")
    for model in admin.site._registry:
        if _audited(model):
            post_delete.connect(_after_delete, sender=model, dispatch_uid=f"audit.after_delete.{model._meta.label}")
