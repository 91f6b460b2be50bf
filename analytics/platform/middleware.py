"""JSON errors for API clients whatever the profile.

With ``DEBUG`` on (the dev profile) Django answers an unknown URL and a crash with its HTML
debug pages instead of ``handler404``/``handler500``, and a CSRF failure is an HTML page in
every profile. Under the API prefixes (``/api/``, ``/v1/``) :class:`ApiJsonErrorsMiddleware`
replaces such an HTML error response (one no DRF view rendered: DRF's own errors, the
browsable API's included, are left alone) by the JSON error every other API error has:
``{"error": {"code", "message", "request_id"}}`` with the same status. The traceback of a
crash is still logged by Django; it is never sent to the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, JsonResponse
from django.http.response import HttpResponseBase

from analytics.platform.views import API_PREFIXES

_CODES = {
    400: ("bad_request", "bad request"),
    403: ("forbidden", "forbidden"),
    404: ("not_found", "no such endpoint"),
    405: ("method_not_allowed", "method not allowed"),
    500: ("server_error", "internal error; quote the request_id when reporting it"),
}


class ApiJsonErrorsMiddleware:
    """Replaces Django's HTML error pages under the API prefixes by JSON errors (sync and async)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.is_async:
            return self._acall(request)
        return self._replace(request, cast(HttpResponseBase, self.get_response(request)))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        response = await cast("Awaitable[HttpResponseBase]", self.get_response(request))
        return self._replace(request, response)

    @staticmethod
    def _replace(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if (
            response.status_code < 400
            or not request.path_info.startswith(API_PREFIXES)
            or hasattr(response, "accepted_renderer")  # rendered by DRF: its errors are already API errors
            or not response.get("Content-Type", "").startswith("text/")
        ):
            return response
        code, message = _CODES.get(response.status_code, ("error", "request failed"))
        error: dict[str, object] = {"code": code, "message": message}
        request_id = getattr(request, "request_id", None)
        if request_id:
            error["request_id"] = request_id
        replacement = JsonResponse({"error": error}, status=response.status_code)
        for header in ("Allow", "Retry-After", "X-Request-ID"):
            if header in response:
                replacement[header] = response[header]
        return replacement
