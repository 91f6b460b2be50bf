"""Pagination defaults for Django-DB list endpoints."""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination as _CursorPagination


class CursorPagination(_CursorPagination):
    """Stable cursor pages ordered by newest first; `?page_size=` up to 1000."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 1000


def cursor_page_schema(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """The OpenAPI shape of one page of DRF's cursor pagination over ``serializer_class``, for an
    ``APIView`` that paginates by hand (generic list views get it from drf-spectacular)."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return inline_serializer(
        name=f"{name}CursorPage",
        fields={
            "next": serializers.URLField(allow_null=True, help_text="the next page's URL; null on the last"),
            "previous": serializers.URLField(allow_null=True),
            "results": serializer_class(many=True),
        },
    )
