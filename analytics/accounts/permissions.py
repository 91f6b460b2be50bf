"""API permissions shared by every app."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from analytics.accounts.models import PersonalApiKey
from analytics.core.middleware import bind_log_context


class IsAuthenticatedApiKeysReadOnly(BasePermission):
    """Authenticated; a personal API key may only read (GET/HEAD/OPTIONS).

    JWT and session users may write; what they may change is decided by their role in
    the services. Write keys never authenticate on these endpoints at all.
    """

    message = "personal API keys can only read; log in (JWT) to make changes"

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        bind_log_context(user_id=user.pk)  # every later line of this request names the user
        if isinstance(request.auth, PersonalApiKey):
            return request.method in SAFE_METHODS
        return True
