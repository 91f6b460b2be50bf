"""What every page view needs: the member's project (404 for anyone else), the remembered
last project, the page's date range, and the context of the page frame."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from analytics.accounts.models import Project, User
from analytics.accounts.selectors import project_get_for_user, projects_for_user
from analytics.core.errors import ApplicationError, NotFound
from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from analytics.dashboards.ranges import PRESETS, PageRange, page_range
from analytics.warehouse.data_version import data_version
from analytics.warehouse.errors import StoreError

log = get_logger(__name__)

LAST_PROJECT_SESSION_KEY = "dashboards.last_project_id"
# How long a card's numbers are reused: briefly while its range is still filling (the live
# messages move the counter and the current bucket meanwhile), longer once it is all past.
OPEN_RANGE_CACHE_SECONDS = 10
PAST_RANGE_CACHE_SECONDS = 300


def page_user(request: HttpRequest) -> User:
    return cast(User, request.user)  # the views are login_required


def page_project(request: HttpRequest, project_id: int) -> Project:
    """The project if the user is a member (remembered as the last one), else 404."""
    try:
        project = project_get_for_user(user=page_user(request), project_id=project_id)
    except NotFound:
        raise Http404("project not found") from None
    if request.session.get(LAST_PROJECT_SESSION_KEY) != project.id:
        request.session[LAST_PROJECT_SESSION_KEY] = project.id
    return project


def remembered_project(request: HttpRequest) -> Project | None:
    """The last project the user opened if still theirs, else their first by name."""
    projects = projects_for_user(user=page_user(request)).order_by("name", "id")
    remembered = request.session.get(LAST_PROJECT_SESSION_KEY)
    if remembered is not None:
        project = projects.filter(pk=remembered).first()
        if project is not None:
            return project
    return projects.first()


def range_of(request: HttpRequest, project: Project) -> PageRange:
    return page_range(request.GET, project.timezone)


def frame_context(request: HttpRequest, project: Project, section: str, **extra: Any) -> dict[str, Any]:
    """The top bar and navigation of a project's page."""
    return {
        "project": project,
        "projects": projects_for_user(user=page_user(request)).order_by("name", "id"),
        "section": section,
        "presets": PRESETS,
        **extra,
    }


def card_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A card's partial: a store failure answers 503 and a query the engine refuses 400, each
    with an error box saying what went wrong (the page's script adds a retry button)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except StoreError as error:
            log.warning("dashboards.card_failed", path=request.path, error=type(error).__name__)
            message = "The event store did not answer; try again in a moment."
            return render(request, "dashboards/partials/card_error.html", {"message": message}, status=503)
        except ApplicationError as error:
            if isinstance(error, NotFound):
                raise Http404(error.message) from None
            return render(request, "dashboards/partials/card_error.html", {"message": error.message}, status=400)

    return wrapped


def cached_card(name: str, project: Project, page_range: PageRange, compute: Callable[[], Any], *extra: Any) -> Any:
    """``compute()``'s result for this card, project, range and ``extra`` (filters), from the
    cache when another request computed it moments ago and no batch was stored since."""
    version = data_version(project.id)  # changes with every stored batch of the project
    parts = [name, project.id, project.timezone, version, page_range.start, page_range.end, page_range.compare, *extra]
    key = "dashboards:card:" + hashlib.sha256(repr(parts).encode()).hexdigest()
    found = cache.get(key)
    if found is not None:
        return found
    value = compute()
    past = page_range.end <= utc_now()
    cache.set(key, value, PAST_RANGE_CACHE_SECONDS if past else OPEN_RANGE_CACHE_SECONDS)
    return value
