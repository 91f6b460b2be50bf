"""Server-rendered pages for people (the API is for programs)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults

from analytics.accounts.models import User
from analytics.accounts.selectors import projects_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The signed-in user's projects."""
    user = cast(User, request.user)  # login_required
    projects = projects_for_user(user=user).order_by("name")
    return render(request, "platform/home.html", {"projects": projects})


# API clients get JSON errors everywhere, also for URLs no view matched and for crashes.
API_PREFIXES = ("/api/", "/v1/")


def _api_error(request: HttpRequest, status: int, code: str, message: str) -> JsonResponse | None:
    if not request.path_info.startswith(API_PREFIXES):
        return None
    error: dict[str, object] = {"code": code, "message": message}
    request_id = getattr(request, "request_id", None)
    if request_id:
        error["request_id"] = request_id
    return JsonResponse({"error": error}, status=status)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: JSON under the API prefixes, Django's page elsewhere."""
    return _api_error(request, 404, "not_found", "no such endpoint") or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under the API prefixes (with the request id to quote), Django's page elsewhere."""
    return _api_error(request, 500, "server_error", "internal error; quote the request_id when reporting it") or (
        defaults.server_error(request)
    )
