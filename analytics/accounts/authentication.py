"""DRF authentication with personal API keys (``Authorization: Bearer pak_...``)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from analytics.accounts.keys import PERSONAL_KEY_PREFIX
from analytics.accounts.models import User
from analytics.accounts.selectors import personal_api_key_lookup


class PersonalApiKeyAuthentication(authentication.BaseAuthentication):
    """Read access as the key's user. Write keys (``wk_``) never authenticate here."""

    def authenticate(self, request: Request) -> tuple[User, object] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != "bearer" or not raw_key.startswith(PERSONAL_KEY_PREFIX):
            return None
        key = personal_api_key_lookup(raw_key.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked API key")
        now = timezone.now()
        # Touch last_used_at at most once a minute so reads do not become writes.
        if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
            type(key).objects.filter(pk=key.pk).update(last_used_at=now)
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"
