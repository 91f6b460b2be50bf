"""DRF authentication: personal API keys (``Authorization: Bearer pak_...``) and JWTs."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken
from rest_framework_simplejwt.tokens import Token

from analytics.accounts.keys import PERSONAL_KEY_PREFIX
from analytics.accounts.models import User
from analytics.accounts.selectors import personal_api_key_lookup
from analytics.accounts.tokens import TOKEN_VERSION_CLAIM


class PersonalApiKeyAuthentication(authentication.BaseAuthentication):
    """Access as the key's user, within the key's organisation and scope, until it expires.

    The key rides on the user object (``user.acting_api_key``) so the project selectors,
    which receive only the user, see only the key's organisation's projects. Write keys
    (``wk_``) never authenticate here.
    """

    def authenticate(self, request: Request) -> tuple[User, object] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != "bearer" or not raw_key.startswith(PERSONAL_KEY_PREFIX):
            return None
        key = personal_api_key_lookup(raw_key.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        now = timezone.now()
        if key.expires_at is not None and key.expires_at <= now:
            raise exceptions.AuthenticationFailed(f"API key expired at {key.expires_at.isoformat()}")
        key.user.acting_api_key = key  # type: ignore[attr-defined]  # read by accounts.selectors
        # Touch last_used_at at most once a minute so reads do not become writes.
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            type(key).objects.filter(pk=key.pk).update(last_used_at=now)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class UserJWTAuthentication(JWTAuthentication):
    """simplejwt's checks (user exists, is active, password unchanged) and the token version.

    The version is on the user row simplejwt loads anyway: no extra query.
    """

    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]  # narrower than AuthUser
        user = super().get_user(validated_token)
        if not isinstance(user, User) or validated_token.get(TOKEN_VERSION_CLAIM, 0) != user.token_version:
            raise InvalidToken("Token has been revoked (logged out or password changed)")
        return user


def token_user(token: Token) -> User:
    """The user of a signature-checked token, or InvalidToken / AuthenticationFailed (401)."""
    return UserJWTAuthentication().get_user(token)
