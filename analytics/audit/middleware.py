"""Log every request that changed something, made by a person or a key (API, admin, pages).

Runs after authentication. For DRF views the user and key are known only inside the view;
DRF copies them onto the Django request (``request.user``, ``request.auth``), which is
where this middleware reads them once the response is ready. A request is logged when it
succeeded (status below 400) and either an authenticated user made it or it changed rows;
anonymous requests that change nothing (event ingestion with a write key, failed log-ins)
are not. Logging never fails the request: an error is written to the log instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from analytics.audit import capture
from analytics.audit.services import audit_entry_record
from analytics.core.logging import get_logger

log = get_logger(__name__)

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class AuditMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.method in READ_ONLY_METHODS:
            return self.get_response(request)
        token = capture.open_collector()
        try:
            response = self.get_response(request)
        finally:
            changes = capture.close_collector(token)
        try:
            audit_entry_record(request=request, status_code=response.status_code, changes=changes)
        except Exception:  # the change is made; a lost log line must not turn it into a 500
            log.exception("audit.record_failed", path=request.path)
        return response

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: dict[str, Any]
    ) -> None:
        # Class-based views (Django's and DRF's as_view) name their class; functions themselves.
        target = getattr(view_func, "view_class", None) or getattr(view_func, "cls", None) or view_func
        name = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"
        request.audit_view = (name, dict(view_kwargs))  # type: ignore[attr-defined]  # read by audit_entry_record
