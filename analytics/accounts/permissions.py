"""API permissions shared by every app."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from analytics.accounts.models import ApiKeyScope, PersonalApiKey
from analytics.core.middleware import bind_log_context


def required_key_scope(request: Request, view: Any) -> str:
    """The scope a personal API key needs for this request.

    A view may demand more with ``required_api_key_scope``: a scope for every method
    (``"admin"`` for the key and audit-log endpoints) or a mapping of method to scope;
    otherwise reads need ``read`` and changes ``write-config``.
    """
    demanded = getattr(view, "required_api_key_scope", None)
    if isinstance(demanded, dict):
        demanded = demanded.get(request.method or "")
    if demanded:
        return str(demanded)
    return str(ApiKeyScope.READ if request.method in SAFE_METHODS else ApiKeyScope.WRITE_CONFIG)


class IsAuthenticatedApiKeysReadOnly(BasePermission):
    """Authenticated; a personal API key only within its scope (read, write-config, admin).

    The name predates scopes: a ``read`` key may still only read. JWT and session users may
    write; what they may change is decided by their role in the services, and a key's user's
    role caps the key too. Write keys never authenticate on these endpoints at all.
    """

    message = "this API key's scope does not allow this request"
    # Subclasses whose POSTs only read (query endpoints) set this: the read rate limit applies.
    post_reads = False

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        bind_log_context(user_id=user.pk)  # every later line of this request names the user
        key = request.auth
        if isinstance(key, PersonalApiKey):
            needed = required_key_scope(request, view)
            if not key.allows(needed):
                self.message = f"this API key has the {key.scope!s} scope; this request needs {needed!s}"
                return False
        return True


class IsAuthenticatedReadQuery(IsAuthenticatedApiKeysReadOnly):
    """For query endpoints whose POST (a JSON query document) only reads: authenticated by any
    means, personal API keys of every scope included, and counted against the read rate limit."""

    post_reads = True

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method != "POST":
            return super().has_permission(request, view)
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        bind_log_context(user_id=user.pk)
        return True
