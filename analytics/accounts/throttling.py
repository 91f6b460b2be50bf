"""The rate limits of logging in: the auth API, the login page, the admin login.

Two budgets: one per client address for every auth endpoint (``AUTH_RATE_LIMIT``), and one
per account for the log-in attempts themselves (``AUTH_ACCOUNT_RATE_LIMIT``: the token
endpoint, the login page, the admin login), so guesses at one account's password spread over
many addresses are limited too. The account is the email as given, trimmed and lower-cased,
and is hashed in the cache key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase, JsonResponse
from rest_framework.throttling import SimpleRateThrottle


class AuthRateThrottle(SimpleRateThrottle):
    """One budget per client address for every auth endpoint (``AUTH_RATE_LIMIT``).

    Counters live in the Django cache (Redis in scale mode, so all web processes share
    them). The address comes from ``get_ident``: REMOTE_ADDR unless ``TRUSTED_PROXY_COUNT``
    says how many proxies append to X-Forwarded-For, so a forged header resets nothing.
    """

    scope = "auth"

    def get_rate(self) -> str:
        return settings.AUTH_RATE_LIMIT

    def get_cache_key(self, request: Any, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def account_key(identifier: object) -> str | None:
    """The cache identity of the account a log-in names; None when it names none."""
    if not isinstance(identifier, str) or not identifier.strip():
        return None
    return hashlib.sha256(identifier.strip().lower().encode("utf-8", "replace")).hexdigest()


class AccountLoginThrottle(SimpleRateThrottle):
    """One budget per account for log-in attempts from any address (``AUTH_ACCOUNT_RATE_LIMIT``).

    ``identifier_field`` names the form or JSON field that holds the email.
    """

    scope = "auth_account"
    identifier_field = "email"

    def get_rate(self) -> str:
        return settings.AUTH_ACCOUNT_RATE_LIMIT

    def get_cache_key(self, request: Any, view: object) -> str | None:
        data = getattr(request, "data", None)
        if data is None:  # a plain Django request (the login pages)
            data = request.POST
        identifier = data.get(self.identifier_field) if hasattr(data, "get") else None
        key = account_key(identifier)
        return None if key is None else self.cache_format % {"scope": self.scope, "ident": key}


class _FormAccountLoginThrottle(AccountLoginThrottle):
    identifier_field = "username"  # Django's AuthenticationForm names the email field so


def login_rate_limited(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Apply :class:`AuthRateThrottle` and the per-account limit to the POSTs of a plain Django
    login view (429 when spent)."""

    @wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            # get_ident and the form read only request.META and request.POST: a plain Django request will do.
            for throttle in (AuthRateThrottle(), _FormAccountLoginThrottle()):
                if throttle.allow_request(request, None):  # type: ignore[arg-type]  # not a DRF Request/view
                    continue
                wait = max(1, round(throttle.wait() or 1))
                response = JsonResponse(
                    {"error": {"code": "throttled", "message": "too many log-in attempts", "retry_after": wait}},
                    status=429,
                )
                response["Retry-After"] = str(wait)
                return response
        return view(request, *args, **kwargs)

    return limited
