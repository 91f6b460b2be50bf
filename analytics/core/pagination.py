"""Pagination defaults for Django-DB list endpoints."""

from rest_framework.pagination import CursorPagination as _CursorPagination


class CursorPagination(_CursorPagination):
    """Stable cursor pages ordered by newest first; `?page_size=` up to 1000."""

    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 1000
