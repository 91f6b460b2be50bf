"""Writes for accounts: users, organisations, projects and keys."""

from __future__ import annotations

import time
from datetime import timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from analytics.accounts.keys import (
    WRITE_KEY_GENERATION_CACHE_KEY,
    WRITE_KEY_GENERATION_CHECK_SECONDS,
    display_prefix,
    hash_key,
    new_personal_key,
    new_write_key,
)
from analytics.accounts.models import (
    EDITING_ROLES,
    MANAGING_ROLES,
    ApiKeyScope,
    Membership,
    Organisation,
    PersonalApiKey,
    Project,
    Role,
    User,
)
from analytics.accounts.selectors import role_for
from analytics.accounts.tokens import UserRefreshToken
from analytics.core.errors import ApplicationError

# Lifetime of a new personal API key when its creator names none.
DEFAULT_API_KEY_DAYS = 90


class PermissionDeniedError(ApplicationError):
    status_code = 403
    code = "permission_denied"


@transaction.atomic
def user_register(*, email: str, password: str, name: str = "", organisation_name: str | None = None) -> User:
    """Create a user together with an organisation they own."""
    user = User.objects.create_user(email=email, password=password, name=name)
    organisation_create(name=organisation_name or f"{name or email.split('@')[0]}'s organisation", owner=user)
    return user


@transaction.atomic
def refresh_token_rotate(*, token: RefreshToken, user: User) -> RefreshToken:
    """Blacklist ``token`` and issue a new pair, once: of concurrent rotations one wins.

    The gate is the insert of the old token's BlacklistedToken (one per outstanding token,
    a unique constraint): a concurrent insert waits for the winner's commit, then finds its
    row and loses (TokenError, 401). The new token is issued in the same transaction, so a
    failure after the gate leaves the old token usable.
    """
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[jwt_settings.JTI_CLAIM],
        defaults={
            "user": user,
            "created_at": token.current_time,
            "token": str(token),
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    if not created:
        raise TokenError("Token is blacklisted")
    return UserRefreshToken.for_user(user)


def user_logout(*, token: RefreshToken, user: User) -> None:
    """Blacklist the refresh token and revoke every token of the user (all devices)."""
    with transaction.atomic():
        token.blacklist()
        user.revoke_tokens()


def organisation_create(*, name: str, owner: User) -> Organisation:
    """Create an organisation with ``owner`` as its owner."""
    organisation = Organisation.objects.create(name=name)
    Membership.objects.create(user=owner, organisation=organisation, role=Role.OWNER)
    return organisation


@transaction.atomic
def project_create(
    *,
    user: User,
    name: str,
    timezone_name: str = "UTC",
    organisation: Organisation | None = None,
    retention_days: int = 365,
) -> Project:
    """Create a project in ``organisation`` (default: the user's first, or the acting key's; one is made if none)."""
    acting = getattr(user, "acting_api_key", None)
    if organisation is None and isinstance(acting, PersonalApiKey) and acting.organisation is not None:
        organisation = acting.organisation
    if isinstance(acting, PersonalApiKey) and organisation is not None and organisation.pk != acting.organisation_id:
        raise PermissionDeniedError("this API key belongs to another organisation")
    if organisation is None:
        membership = user.memberships.select_related("organisation").order_by("created_at").first()
        if membership is None:
            organisation = organisation_create(name=f"{user.email.split('@')[0]}'s organisation", owner=user)
        else:
            organisation = membership.organisation
            _require_role(membership.role, EDITING_ROLES, "create projects")
    else:
        membership = Membership.objects.filter(user=user, organisation=organisation).first()
        if membership is None:
            raise PermissionDeniedError("you are not a member of that organisation")
        _require_role(membership.role, EDITING_ROLES, "create projects")
    project = Project(
        organisation=organisation,
        name=name,
        timezone=timezone_name,
        retention_days=retention_days,
        write_key=new_write_key(),
    )
    project.full_clean()
    project.save()
    return project


def _require_role(role: str, allowed: tuple[str, ...], action: str) -> None:
    if role not in allowed:
        raise PermissionDeniedError(f"your role ({role}) cannot {action}")


def project_require_manager(*, project: Project, user: User) -> None:
    """Raise PermissionDeniedError (403) unless the user is an owner or admin of the project."""
    role = role_for(user=user, project=project)
    _require_role(role or "none", MANAGING_ROLES, "change this project")


def project_update(*, project: Project, user: User, **changes: object) -> Project:
    """Change a project's settings (owners and admins only); validates like the model."""
    project_require_manager(project=project, user=user)
    for field, value in changes.items():
        setattr(project, field, value)
    project.full_clean()
    project.save()
    _publish_write_key_change(wait=False)
    return project


def project_rotate_write_key(*, project: Project, wait: bool = True) -> Project:
    """Issue a new write key; the old one stops working at once, in every process.

    Returns after ``WRITE_KEY_GENERATION_CHECK_SECONDS`` (``wait``): by then every process has
    re-read the write-key generation and dropped its cached lookups. Several rotations in a
    row pass ``wait=False`` and call ``write_keys_settle()`` once at the end.
    """
    project.write_key = new_write_key()
    project.write_key_rotated_at = timezone.now()
    project.save(update_fields=["write_key", "write_key_rotated_at"])
    _publish_write_key_change(wait=wait)
    return project


def _publish_write_key_change(*, wait: bool) -> None:
    write_keys_changed()
    if transaction.get_connection().in_atomic_block:
        # Until the commit, lookups still read the old row; move on again once it is visible.
        transaction.on_commit(write_keys_changed)
    if wait:
        write_keys_settle()


def write_keys_changed() -> None:
    """Bump the shared write-key generation: every cached key lookup is stale from now on.

    A missing counter (never set, evicted, Redis restarted) starts at the current time in
    milliseconds, not 0: a value some process saw before the loss must not come back.
    """
    cache.add(WRITE_KEY_GENERATION_CACHE_KEY, time.time_ns() // 1_000_000, timeout=None)
    try:
        cache.incr(WRITE_KEY_GENERATION_CACHE_KEY)
    except ValueError:  # evicted between add and incr
        cache.set(WRITE_KEY_GENERATION_CACHE_KEY, time.time_ns() // 1_000_000, timeout=None)


def write_keys_settle() -> None:
    """Wait until every process has re-read the write-key generation (a rotation's reply)."""
    time.sleep(WRITE_KEY_GENERATION_CHECK_SECONDS + 0.05)


def personal_api_key_create(
    *,
    user: User,
    label: str,
    organisation: Organisation | None = None,
    scope: str = ApiKeyScope.READ,
    expires_in_days: int | None = DEFAULT_API_KEY_DAYS,
) -> tuple[PersonalApiKey, str]:
    """Return the key record and the raw key, which is shown once and never stored.

    The key is bound to one organisation of the user's (their first when not given) and
    cannot see any other; a user in no organisation gets a key that sees no project until
    revoked. ``scope`` admin needs a managing role in that organisation.
    """
    memberships = Membership.objects.filter(user=user).order_by("created_at", "id")
    if organisation is not None:
        memberships = memberships.filter(organisation=organisation)
    membership = memberships.first()
    if membership is None and organisation is not None:
        raise ApplicationError(
            "not a member of that organisation",
            extra={"fields": {"organisation": ["not one of your organisations"]}},
        )
    role = membership.role if membership is not None else None
    if scope == ApiKeyScope.ADMIN and role not in MANAGING_ROLES:
        raise PermissionDeniedError("only owners and admins of the organisation can create admin keys")
    organisation_id = membership.organisation_id if membership is not None else None
    acting = getattr(user, "acting_api_key", None)
    if isinstance(acting, PersonalApiKey) and (acting.organisation_id != organisation_id or not acting.allows(scope)):
        raise PermissionDeniedError("a key cannot create a key with more reach than its own")
    raw_key = new_personal_key()
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    record = PersonalApiKey.objects.create(
        user=user,
        organisation_id=organisation_id,
        label=label,
        scope=scope,
        expires_at=expires_at,
        prefix=display_prefix(raw_key),
        key_hash=hash_key(raw_key),
    )
    return record, raw_key


def personal_api_key_revoke(*, key: PersonalApiKey) -> PersonalApiKey:
    """Revoke the key at once (idempotent); it authenticates nothing afterwards."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
