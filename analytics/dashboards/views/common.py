"""What every page view needs: the member's project (404 for anyone else), the remembered
last project, the page's date range, and the context of the page frame."""

from __future__ import annotations

from typing import Any, cast

from django.http import Http404, HttpRequest

from analytics.accounts.models import Project, User
from analytics.accounts.selectors import project_get_for_user, projects_for_user
from analytics.core.errors import NotFound
from analytics.dashboards.ranges import PRESETS, PageRange, page_range

LAST_PROJECT_SESSION_KEY = "dashboards.last_project_id"


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
