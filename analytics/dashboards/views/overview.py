"""The overview: a page frame whose cards load as htmx partials, and the live snapshot.

Each partial is one card's HTML (numbers, a chart's data in ``json_script``, its table) and
is computed for the page's range (``ranges.py``); a failing partial answers 503 with an
error box the card shows with a retry button.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics.accounts.models import Project
from analytics.core.timeutils import utc_now
from analytics.dashboards.queries import overview as queries
from analytics.dashboards.ranges import PageRange
from analytics.dashboards.views.common import (
    cached_card,
    card_view,
    frame_context,
    page_project,
    range_of,
    remembered_project,
)
from analytics.query.compiler.sessions import SessionRules
from analytics.query.model import Series, TrendsQuery
from analytics.query.runner import run_trends
from analytics.streams.live import last_minute

PIE_SLICES = 6


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """``/``: the remembered project's overview, or the list of projects when there is none."""
    project = remembered_project(request)
    if project is None:
        return render(request, "platform/home.html", {"projects": []})
    return overview(request, project.id)


@login_required
@require_GET
def overview(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    if not queries.has_events(project_id=project.id):
        return render(request, "dashboards/empty.html", frame_context(request, project, "overview"))
    page_range = range_of(request, project)
    context = frame_context(request, project, "overview", range=page_range, live=live_snapshot(project))
    return render(request, "dashboards/overview.html", context)


def live_snapshot(project: Project) -> dict[str, Any]:
    return {
        "last_minute": last_minute(project.id),
        "today": queries.events_today(project_id=project.id, time_zone=project.timezone),
        "has_events": queries.has_events(project_id=project.id),
        "at": int(utc_now().timestamp() * 1000),
    }


@login_required
@require_GET
def live_json(request: HttpRequest, project_id: int) -> JsonResponse:
    """The live counter's values now: what a reconnecting page catches up with."""
    project = page_project(request, project_id)
    return JsonResponse(live_snapshot(project))


def summary_numbers(project: Project, page_range: PageRange) -> dict[str, Any]:
    before = page_range.previous()
    active_end = min(page_range.end, utc_now())
    sessions = queries.session_stats(
        project_id=project.id,
        current=page_range.date_range,
        previous=before,
        rules=SessionRules.for_project(project),
    )
    numbers = queries.key_numbers(
        project_id=project.id, current=page_range.date_range, previous=before, active_end=active_end
    )
    return {
        "totals": numbers["current"],
        "previous_totals": numbers["previous"],
        "sessions": sessions["current"],
        "previous_sessions": sessions["previous"],
        "active": numbers["active"],
        "active_end": active_end,
    }


def event_numbers(project: Project, page_range: PageRange) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events card: the top event names and the events by kind."""
    return queries.event_breakdown(project_id=project.id, start=page_range.start, end=page_range.end)


@login_required
@require_GET
@card_view
def summary_partial(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    page_range = range_of(request, project)
    numbers = cached_card("summary", project, page_range, lambda: summary_numbers(project, page_range))
    context = {"project": project, "range": page_range, **numbers}
    return render(request, "dashboards/partials/summary.html", context)


def bucket_label(bucket: str, interval: str) -> str:
    moment = datetime.fromisoformat(bucket)
    if interval == "hour":
        return moment.strftime("%b %d %H:%M")
    if interval == "week":
        return "Week of " + moment.strftime("%b %d")
    return moment.strftime("%a %b %d")


def timeseries_payload(result: dict[str, Any], page_range: PageRange) -> dict[str, Any]:
    """The chart's data: labels by bucket start, future buckets null, the current one marked."""
    now = utc_now()
    current = next(entry for entry in result["series"] if entry.get("compare", "current") == "current")
    previous = [entry for entry in result["series"] if entry.get("compare") == "previous"]
    points = current["points"]
    starts = [datetime.fromisoformat(point["bucket"]) for point in points]
    values: list[int | None] = [
        None if start > now else point["value"] for start, point in zip(starts, points, strict=True)
    ]
    current_index = max((index for index, start in enumerate(starts) if start <= now), default=-1)
    series: list[dict[str, Any]] = [{"name": "Events", "data": values}]
    if previous:
        series.append({"name": "Previous period", "data": [p["value"] for p in previous[0]["points"]], "previous": 1})
    return {
        "kind": "timeseries",
        "labels": [bucket_label(point["bucket"], page_range.interval) for point in points],
        "buckets": [int(start.timestamp() * 1000) for start in starts],
        "series": series,
        "current_index": current_index if page_range.includes_now else -1,
        "interval": page_range.interval,
        "unit": "events",
    }


@login_required
@require_GET
@card_view
def timeseries_partial(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    page_range = range_of(request, project)
    query = TrendsQuery(
        series=(Series(event=None, name="Events"),),
        interval=page_range.interval,
        date_from=page_range.start,
        date_to=page_range.end,
        time_zone=project.timezone,
        compare=page_range.compare,
    )
    result = cached_card("timeseries", project, page_range, lambda: run_trends(project_id=project.id, query=query))
    payload = timeseries_payload(result, page_range)
    rows = [
        {"label": label, "value": value}
        for label, value in zip(payload["labels"], payload["series"][0]["data"], strict=True)
        if value is not None
    ]
    context = {"project": project, "range": page_range, "chart": payload, "rows": rows}
    return render(request, "dashboards/partials/timeseries.html", context)


def pie_slices(kinds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most six slices: the rest as "Other"."""
    if len(kinds) <= PIE_SLICES:
        return kinds
    head, rest = kinds[: PIE_SLICES - 1], kinds[PIE_SLICES - 1 :]
    return [*head, {"kind": "Other", "events": sum(item["events"] for item in rest)}]


@login_required
@require_GET
@card_view
def events_partial(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    page_range = range_of(request, project)
    top, by_type = cached_card("events", project, page_range, lambda: event_numbers(project, page_range))
    kinds = pie_slices(by_type)
    bar = {
        "kind": "bar",
        "labels": [row["event"] for row in top],
        "series": [{"name": "Events", "data": [row["events"] for row in top]}],
        "unit": "events",
    }
    pie = {"kind": "pie", "labels": [row["kind"] for row in kinds], "values": [row["events"] for row in kinds]}
    total = sum(row["events"] for row in kinds)
    context = {"project": project, "top": top, "kinds": kinds, "bar": bar, "pie": pie, "total": total}
    return render(request, "dashboards/partials/events.html", context)


@login_required
@require_GET
@card_view
def users_partial(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    page_range = range_of(request, project)
    users = cached_card(
        "top_users",
        project,
        page_range,
        lambda: queries.top_users(project_id=project.id, start=page_range.start, end=page_range.end),
    )
    return render(request, "dashboards/partials/top_users.html", {"project": project, "users": users})
