"""Reads for accounts. Every project lookup is scoped to the asking user's organisations."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import F, QuerySet

from analytics.accounts.keys import (
    WRITE_KEY_CACHE_PREFIX,
    WRITE_KEY_GENERATION_CACHE_KEY,
    WRITE_KEY_PREFIX,
    hash_key,
)
from analytics.accounts.models import Membership, PersonalApiKey, Project, User
from analytics.core.errors import NotFound
from analytics.core.middleware import bind_log_context


def acting_api_key(user: User) -> PersonalApiKey | None:
    """The personal API key the user authenticated this request with, if any."""
    key = getattr(user, "acting_api_key", None)
    return key if isinstance(key, PersonalApiKey) else None


def projects_for_user(*, user: User) -> QuerySet[Project]:
    """Projects of the user's organisations, each annotated with ``user_role``.

    Through a personal API key, only the key's organisation's projects (none for a key
    without one).
    """
    # The annotation reuses the membership join of the filter, so it is the user's own role.
    projects = (
        Project.objects.filter(organisation__memberships__user=user)
        .annotate(user_role=F("organisation__memberships__role"))
        .select_related("organisation")
    )
    key = acting_api_key(user)
    if key is not None:
        projects = projects.filter(organisation_id=key.organisation_id) if key.organisation_id else projects.none()
    return projects


def project_get_for_user(*, user: User, project_id: int | str) -> Project:
    """The project if the user is a member of its organisation; else 404 (never 403).

    Also binds ``project_id`` into the log context, so every line of the request carries it.
    """
    try:
        project = projects_for_user(user=user).get(pk=int(project_id))
    except (Project.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound("project not found") from None
    bind_log_context(project_id=project.id)
    return project


def role_for(*, user: User, project: Project) -> str | None:
    """The user's role in the project's organisation, or None for a non-member.

    Through a personal API key of another organisation: None.
    """
    key = acting_api_key(user)
    if key is not None and key.organisation_id != project.organisation_id:
        return None
    return (
        Membership.objects.filter(user=user, organisation_id=project.organisation_id)
        .values_list("role", flat=True)
        .first()
    )


@dataclass(frozen=True)
class IngestionProject:
    """What ingestion needs to know about a project, cheap to cache."""

    id: int
    timezone: str
    retention_days: int
    ingest_rate_limit: int | None
    keep_full_ip: bool

    @classmethod
    def from_project(cls, project: Project) -> IngestionProject:
        return cls(
            id=project.id,
            timezone=project.timezone,
            retention_days=project.retention_days,
            ingest_rate_limit=project.ingest_rate_limit,
            keep_full_ip=project.keep_full_ip,
        )


def write_key_generation() -> int:
    """The shared write-key counter; 0 when unset or evicted (a value it never takes when set)."""
    value = cache.get(WRITE_KEY_GENERATION_CACHE_KEY)
    return value if isinstance(value, int) else 0


def project_for_write_key(
    write_key: str, *, cache_seconds: int = 30, generation: int | None = None
) -> IngestionProject | None:
    """Resolve a write key (cached briefly; a write-key change moves on to new entries).

    The shared entry is keyed by the write-key generation, so a lookup that read the database
    before a rotation and stores its answer after it stores it where nobody reads any more.
    """
    if not write_key or not write_key.startswith(WRITE_KEY_PREFIX) or len(write_key) > 64 or not write_key.isascii():
        return None
    if generation is None:
        generation = write_key_generation()
    cache_key = f"{WRITE_KEY_CACHE_PREFIX}{generation}:{hash_key(write_key)}"
    cached = cache.get(cache_key)
    if cached is not None:
        return cached if isinstance(cached, IngestionProject) else None
    project = Project.objects.filter(write_key=write_key).first()
    value = IngestionProject.from_project(project) if project else False
    cache.set(cache_key, value, cache_seconds)
    return value if isinstance(value, IngestionProject) else None


def personal_api_key_lookup(raw_key: str) -> PersonalApiKey | None:
    """The active key with this raw value (its user active too), else None."""
    return (
        PersonalApiKey.objects.select_related("user")
        .filter(key_hash=hash_key(raw_key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )


def personal_api_keys_for_user(*, user: User) -> QuerySet[PersonalApiKey]:
    """The user's keys, newest first, revoked ones included; through a key, its organisation's only."""
    keys = PersonalApiKey.objects.filter(user=user).order_by("-created_at")
    acting = acting_api_key(user)
    if acting is None:
        return keys
    return keys.filter(organisation=acting.organisation) if acting.organisation_id else keys.none()


def project_retentions() -> list[tuple[int, int]]:
    """``(project_id, retention_days)`` of every project."""
    return list(Project.objects.order_by("id").values_list("id", "retention_days"))
