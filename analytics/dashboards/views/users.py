"""The users list (most active first, or a distinct id looked up) and one user's page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from analytics.dashboards.queries import overview as overview_queries
from analytics.dashboards.queries import users as queries
from analytics.dashboards.views.common import card_view, frame_context, page_project, range_of
from analytics.query.compiler.sessions import SessionRules

TIMELINE_PAGE = 50
MAX_DISTINCT_ID = 200


@login_required
@require_GET
def users(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    wanted = request.GET.get("distinct_id", "").strip()[:MAX_DISTINCT_ID]
    not_found = ""
    if wanted:
        if queries.resolve_person(project_id=project.id, distinct_id=wanted) is not None:
            return redirect(reverse("dashboards:user", args=[project.id, wanted]))
        not_found = wanted
    page_range = range_of(request, project)
    top = overview_queries.top_users(project_id=project.id, start=page_range.start, end=page_range.end, limit=50)
    context = frame_context(request, project, "users", range=page_range, users=top, not_found=not_found)
    return render(request, "dashboards/users.html", context)


def _person(project_id: int, distinct_id: str) -> str:
    if len(distinct_id) > MAX_DISTINCT_ID:
        raise Http404("no such user")
    person = queries.resolve_person(project_id=project_id, distinct_id=distinct_id)
    if person is None:
        raise Http404("no such user")
    return person


@login_required
@require_GET
def user(request: HttpRequest, project_id: int, distinct_id: str) -> HttpResponse:
    project = page_project(request, project_id)
    person = _person(project.id, distinct_id)
    profile = queries.user_profile(project_id=project.id, person_id=person)
    interval = "month" if request.GET.get("by") == "month" else "day"
    context = frame_context(
        request,
        project,
        "users",
        distinct_id=distinct_id,
        profile=profile,
        interval=interval,
        totals=queries.user_totals(
            project_id=project.id, person_id=person, interval=interval, time_zone=project.timezone
        ),
        sessions=queries.user_sessions(
            project_id=project.id, person_id=person, rules=SessionRules.for_project(project)
        ),
        telecom=(
            queries.telecom_usage(
                project_id=project.id, person_id=person, interval=interval, time_zone=project.timezone
            )
            if profile["network_events"]
            else []
        ),
    )
    return render(request, "dashboards/user.html", context)


def _cursor(request: HttpRequest) -> tuple[int, str] | None:
    raw_ms, raw_id = request.GET.get("before_ms", ""), request.GET.get("before_id", "")
    if not raw_ms:
        return None
    try:
        return int(raw_ms), raw_id[:64]
    except ValueError:
        raise Http404("bad cursor") from None


@login_required
@require_GET
@card_view
def timeline_partial(request: HttpRequest, project_id: int, distinct_id: str) -> HttpResponse:
    """One page of the timeline; its last row loads the next page when scrolled into view."""
    project = page_project(request, project_id)
    person = _person(project.id, distinct_id)
    rows = queries.user_timeline(
        project_id=project.id, person_id=person, before=_cursor(request), limit=TIMELINE_PAGE + 1
    )
    more = len(rows) > TIMELINE_PAGE
    rows = rows[:TIMELINE_PAGE]
    context = {
        "project": project,
        "distinct_id": distinct_id,
        "rows": rows,
        "more": more,
        "last": rows[-1] if rows else None,
    }
    return render(request, "dashboards/partials/timeline.html", context)
