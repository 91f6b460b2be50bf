"""One rate limit for every way of logging in: the auth API, the login page, the admin login."""

from __future__ import annotations

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


def login_rate_limited(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Apply :class:`AuthRateThrottle` to the POSTs of a plain Django login view (429 when spent)."""

    @wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            throttle = AuthRateThrottle()
            # get_ident reads only request.META, so a plain Django request will do.
            if not throttle.allow_request(request, None):  # type: ignore[arg-type]  # not a DRF Request/view
                wait = max(1, round(throttle.wait() or 1))
                response = JsonResponse(
                    {"error": {"code": "throttled", "message": "too many log-in attempts", "retry_after": wait}},
                    status=429,
                )
                response["Retry-After"] = str(wait)
                return response
        return view(request, *args, **kwargs)

    return limited
