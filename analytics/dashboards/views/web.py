"""The web-analytics page: top numbers, the main chart, and cards of ranked lists; every
row is a link that adds its value as a filter (``?f=dimension:value``, repeatable) for the
whole page, shown as a removable chip."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics.dashboards.queries.web import DIMENSIONS, web_breakdown, web_summary, web_timeseries
from analytics.dashboards.ranges import PageRange
from analytics.dashboards.views.common import cached_card, card_view, frame_context, page_project, range_of
from analytics.dashboards.views.overview import bucket_label

MAX_FILTERS = 6
MAX_VALUE = 500
# Cards and their tabs (the first tab shows first).
CARDS: dict[str, tuple[str, ...]] = {
    "pages": ("page", "entry_page", "exit_page"),
    "sources": ("referrer", "utm_source", "utm_medium", "utm_campaign"),
    "locations": ("country",),
    "devices": ("browser", "os", "device_type"),
}
CARD_TITLES = {"pages": "Pages", "sources": "Sources", "locations": "Countries", "devices": "Devices"}
EMPTY_LABELS = {"referrer": "Direct / none", "page": "(no path)"}


def _iso(epoch_ms: int, time_zone: str) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=ZoneInfo(time_zone)).isoformat()


def page_filters(request: HttpRequest) -> list[tuple[str, str]]:
    """``?f=dimension:value`` pairs the page understands (others are ignored)."""
    found: list[tuple[str, str]] = []
    for raw in request.GET.getlist("f")[:MAX_FILTERS]:
        dimension, _, value = raw.partition(":")
        if dimension in DIMENSIONS and (dimension, value[:MAX_VALUE]) not in found:
            found.append((dimension, value[:MAX_VALUE]))
    return found


def _query_with(page_range: PageRange, filters: list[tuple[str, str]]) -> str:
    base = page_range.query_string()
    extra = urlencode([("f", f"{dimension}:{value}") for dimension, value in filters])
    return f"{base}&{extra}" if extra else base


def _chips(page_range: PageRange, filters: list[tuple[str, str]]) -> list[dict[str, str]]:
    chips = []
    for item in filters:
        rest = [other for other in filters if other != item]
        chips.append(
            {
                "label": DIMENSIONS[item[0]].rstrip("s").replace("Countrie", "Country"),
                "value": item[1] or EMPTY_LABELS.get(item[0], "(none)"),
                "remove": "?" + _query_with(page_range, rest),
            }
        )
    return chips


@login_required
@require_GET
def web(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    page_range = range_of(request, project)
    filters = page_filters(request)
    context = frame_context(
        request,
        project,
        "web",
        range=page_range,
        filters=filters,
        chips=_chips(page_range, filters),
        state=_query_with(page_range, filters),
        cards=[
            {"key": key, "title": CARD_TITLES[key], "tabs": [(tab, DIMENSIONS[tab]) for tab in tabs]}
            for key, tabs in CARDS.items()
        ],
    )
    return render(request, "dashboards/web.html", context)


@login_required
@require_GET
@card_view
def summary_partial(request: HttpRequest, project_id: int) -> HttpResponse:
    project = page_project(request, project_id)
    page_range = range_of(request, project)
    filters = page_filters(request)
    numbers, series = cached_card(
        "web_summary",
        project,
        page_range,
        lambda: (
            web_summary(
                project=project, date_from=page_range.start, date_to=page_range.end, filters=filters, compare=True
            ),
            web_timeseries(
                project=project,
                date_from=page_range.start,
                date_to=page_range.end,
                interval=page_range.interval,
                filters=filters,
            ),
        ),
        filters,
    )
    metric = request.GET.get("metric", "visitors")
    metric = metric if metric in ("visitors", "pageviews") else "visitors"
    chart: dict[str, Any] = {
        "kind": "timeseries",
        "labels": [bucket_label(_iso(point["bucket"], project.timezone), page_range.interval) for point in series],
        "series": [{"name": metric.capitalize(), "data": [point[metric] for point in series]}],
        "current_index": -1,
        "unit": metric,
        "interval": page_range.interval,
    }
    context = {
        "project": project,
        "range": page_range,
        "now": numbers["current"],
        "before": numbers["previous"],
        "chart": chart,
        "metric": metric,
        "state": _query_with(page_range, filters),
        "series": series,
    }
    return render(request, "dashboards/partials/web_summary.html", context)


@login_required
@require_GET
@card_view
def breakdown_partial(request: HttpRequest, project_id: int, card: str) -> HttpResponse:
    project = page_project(request, project_id)
    if card not in DIMENSIONS:
        raise Http404("no such card")
    page_range = range_of(request, project)
    filters = page_filters(request)
    rows = [
        dict(row)
        for row in cached_card(
            f"web_{card}",
            project,
            page_range,
            lambda: web_breakdown(
                project=project, date_from=page_range.start, date_to=page_range.end, dimension=card, filters=filters
            ),
            filters,
        )
    ]
    top = max((row["visitors"] for row in rows), default=0)
    for row in rows:
        row["label"] = row["value"] or EMPTY_LABELS.get(card, "(none)")
        row["href"] = "?" + _query_with(page_range, [*filters, (card, row["value"])])
        row["active"] = (card, row["value"]) in filters
    context = {"project": project, "rows": rows, "card": card, "title": DIMENSIONS[card], "top": top}
    return render(request, "dashboards/partials/web_card.html", context)
