"""Users, organisations, memberships, projects and keys."""

from __future__ import annotations

import functools
import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

DEFAULT_MEASURES = ["revenue", "duration_sec", "bytes_up", "bytes_down"]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: object) -> User:
        if not email:
            raise ValueError("an e-mail address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str | None) -> User:
        # E-mail addresses are stored lower-cased; log-in must not depend on the case typed.
        return self.get(email__iexact=username or "")

    def create_user(self, email: str, password: str | None = None, **extra: object) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an e-mail address."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Carried in every JWT (analytics/accounts/tokens.py); a token with another version is
    # refused. Only revoke_tokens() changes it, always upwards, never save().
    token_version = models.PositiveIntegerField(default=0, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; a changed password (set_password, from any path) also revokes every token.

        A save of an existing user never writes ``token_version``: a stale instance (loaded
        before a log-out elsewhere) must not move it back and revive revoked tokens.
        """
        if self._state.adding:
            super().save(*args, **kwargs)
            return
        # set_password() keeps the raw password until the save; a rehash at log-in clears it first.
        password_changed = getattr(self, "_password", None) is not None
        if kwargs.get("update_fields") is None and not args:
            kwargs["update_fields"] = [
                field.name
                for field in self._meta.concrete_fields
                if not field.primary_key and field.name != "token_version"
            ]
        with transaction.atomic():
            super().save(*args, **kwargs)
            if password_changed:
                self.revoke_tokens(blacklist_refresh_tokens=True)

    def revoke_tokens(self, *, blacklist_refresh_tokens: bool = False) -> None:
        """Make every access and refresh token issued so far invalid at once (version bump).

        ``blacklist_refresh_tokens`` also blacklists the user's outstanding refresh tokens,
        so they show as revoked in the admin too, not only by their old version.
        """
        with transaction.atomic():
            type(self).objects.filter(pk=self.pk).update(token_version=F("token_version") + 1)
            self.refresh_from_db(fields=["token_version"])
            if blacklist_refresh_tokens:
                outstanding = OutstandingToken.objects.filter(
                    user=self, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
                )
                BlacklistedToken.objects.bulk_create(
                    [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
                )


class Organisation(models.Model):
    name = models.CharField(max_length=200)
    members = models.ManyToManyField(User, through="Membership", related_name="organisations")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


# Roles that may change a project's settings and keys.
MANAGING_ROLES = (Role.OWNER, Role.ADMIN)
# Roles that may create reports, segments and other content.
EDITING_ROLES = (Role.OWNER, Role.ADMIN, Role.MEMBER)


class Membership(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organisation"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organisation} ({self.role})"


@functools.cache
def _time_zone_names() -> frozenset[str]:
    # available_timezones() walks the whole tz database on disk; read it once per process.
    return frozenset(zoneinfo.available_timezones())


def validate_timezone(value: str) -> None:
    """Accept only IANA time zone names."""
    if value not in _time_zone_names():
        raise ValidationError(f"{value!r} is not an IANA time zone such as 'Europe/Berlin'")


class Project(models.Model):
    """A tenant of the event store: every event and query belongs to one project."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    retention_days = models.PositiveIntegerField(
        default=365, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    # Public: embedded in web pages and apps. It can only write events.
    write_key = models.CharField(max_length=64, unique=True)
    write_key_rotated_at = models.DateTimeField(null=True, blank=True)
    ingest_rate_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text="Events per second; empty means the server default."
    )
    keep_full_ip = models.BooleanField(default=False, help_text="Store whole IP addresses instead of anonymised ones.")
    aggregation_lateness_seconds = models.PositiveIntegerField(
        default=15, help_text="How long after a bucket ends it is aggregated as final."
    )
    measures = models.JSONField(default=list, blank=True, help_text="Numeric properties aggregated per bucket.")
    # Sessionisation at query time (analytics/query/compiler/sessions.py): a changed value
    # re-cuts every session, past ones included, because sessions are never stored.
    session_timeout_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(1440)],
        help_text="Inactivity after which a person's next event starts a new session.",
    )
    session_split_at_midnight = models.BooleanField(
        default=True, help_text="End every session at midnight in the project's time zone."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["organisation", "created_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def aggregated_measures(self) -> list[str]:
        return list(self.measures) if self.measures else list(DEFAULT_MEASURES)


class PersonalApiKey(models.Model):
    """A secret key for reading through the API as its user. Only a hash is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=200)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.label} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
