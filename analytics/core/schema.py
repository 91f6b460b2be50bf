"""OpenAPI generation (drf-spectacular) tuned to the house style.

Views nest their ``InputSerializer`` / ``OutputSerializer`` classes, so many serializers
share a name. Components are therefore named after the enclosing class
(``ProjectListCreateView.InputSerializer`` -> ``ProjectListCreateInput``, nested
classes included), which keeps every
component unique without asking each view to invent names.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: serializers.Serializer, direction: Any) -> str:
        cls = serializer.__class__
        parts = cls.__qualname__.split(".")
        if len(parts) == 1 or "<locals>" in parts:
            return cls.__name__
        # Every enclosing class counts: AggregatesView.OutputSerializer.ResultSerializer -> AggregatesOutputResult.
        return "".join(part.removesuffix("View").removesuffix("Serializer") for part in parts)


class PersonalApiKeyScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Bearer pak_...`` (read-only personal API keys)."""

    target_class = "analytics.accounts.authentication.PersonalApiKeyAuthentication"
    name = "personalApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API key (`pak_...`): read access as its user.",
        }


class UserJWTScheme(SimpleJWTScheme):
    """simplejwt's ``jwtAuth`` scheme for its subclass that also checks the token version."""

    target_class = "analytics.accounts.authentication.UserJWTAuthentication"
