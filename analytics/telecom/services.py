"""Writes of the telecom app: creating and revoking read keys."""

from __future__ import annotations

from django.core.cache import cache
from django.utils import timezone

from analytics.accounts.keys import hash_key
from analytics.accounts.models import Project, User
from analytics.telecom.keys import display_prefix, new_read_key
from analytics.telecom.models import ReadKey
from analytics.telecom.selectors import read_key_cache_key


def read_key_create(*, project: Project, label: str = "", created_by: User | None = None) -> tuple[ReadKey, str]:
    """A new read key of ``project``; returns the record and the raw key (shown once)."""
    raw_key = new_read_key()
    record = ReadKey.objects.create(
        project=project,
        label=label,
        prefix=display_prefix(raw_key),
        key_hash=hash_key(raw_key),
        created_by=created_by,
    )
    return record, raw_key


def read_key_revoke(*, key: ReadKey) -> ReadKey:
    """Revoke at once: the cached lookup of the key is dropped too."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    cache.delete(read_key_cache_key(key.key_hash))
    return key
