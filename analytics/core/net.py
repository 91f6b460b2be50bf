"""The client's address, consistently for rate limits, throttles and IP enrichment."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, or with ``TRUSTED_PROXY_COUNT`` = n > 0 the n-th X-Forwarded-For entry
    from the right (the address our outermost trusted proxy saw).

    Entries left of that are written by the client and can be forged, so they are never used.
    """
    remote_addr = request.META.get("REMOTE_ADDR", "") or ""
    trusted: int = settings.TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return remote_addr
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote_addr
    return forwarded[-min(trusted, len(forwarded))]
