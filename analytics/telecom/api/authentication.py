"""Read-key authentication of the provider-facing read API (``Authorization: Bearer rk_...``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from analytics.core.middleware import bind_log_context
from analytics.telecom.models import ReadKey
from analytics.telecom.selectors import read_key_lookup


def bearer_token(header: str) -> str | None:
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class ReadKeyAuthentication(authentication.BaseAuthentication):
    """The request reads the data of the read key's project, nothing else.

    There is no user: ``request.user`` is anonymous and ``request.auth`` the :class:`ReadKey`.
    """

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ReadKey] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        token = bearer_token(header)
        if token is None:
            return None
        key = read_key_lookup(token)
        if key is None:
            raise exceptions.AuthenticationFailed("invalid or revoked read key")
        bind_log_context(project_id=key.project_id)
        return AnonymousUser(), key

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


class HasReadKey(BasePermission):
    message = "a project read key is required (Authorization: Bearer rk_...)"

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, ReadKey)


class ReadKeyScheme(OpenApiAuthenticationExtension):
    target_class = ReadKeyAuthentication
    name = "ReadKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A project read key (`rk_...`), created with `POST /api/v1/projects/{id}/read-keys`.",
        }
