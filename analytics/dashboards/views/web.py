"""The web-analytics page over ``analytics.query.web``: top numbers, the main chart, and
cards of ranked lists; every row is a link that adds its value as a filter
(``?f=dimension:value``, repeatable; an empty value means "not set") for the whole page,
shown as a removable chip. The filters reach the engine as ``eq`` conditions on the
dimension's filter key (``FILTER_KEYS``), all of which must hold."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from analytics.dashboards.ranges import PageRange
from analytics.dashboards.views.common import cached_card, card_view, frame_context, page_project, range_of
from analytics.dashboards.views.overview import bucket_label
from analytics.query.compiler.web import FILTER_KEYS
from analytics.query.web import web_breakdown, web_summary, web_timeseries

DIMENSIONS: dict[str, str] = {
    "page": "Pages",
    "entry_page": "Entry pages",
    "exit_page": "Exit pages",
    "referrer": "Referrers",
    "utm_source": "UTM sources",
    "utm_medium": "UTM mediums",
    "utm_campaign": "UTM campaigns",
    "country": "Countries",
    "browser": "Browsers",
    "os": "Operating systems",
    "device_type": "Devices",
}
CHIP_LABELS = {
    "page": "Page",
    "entry_page": "Entry page",
    "exit_page": "Exit page",
    "referrer": "Referrer",
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "country": "Country",
    "browser": "Browser",
    "os": "OS",
    "device_type": "Device",
}
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


def engine_filters(filters: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The page's filters as the query model's filter JSON (a list: all must hold)."""
    return [
        {"key": FILTER_KEYS[dimension], "type": "event", "operator": "eq", "value": value}
        if value
        else {"key": FILTER_KEYS[dimension], "type": "event", "operator": "is_not_set"}
        for dimension, value in filters
    ]


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
                "label": CHIP_LABELS[item[0]],
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
                project=project,
                date_from=page_range.start,
                date_to=page_range.end,
                filters=engine_filters(filters),
                compare=True,
            ),
            web_timeseries(
                project=project,
                date_from=page_range.start,
                date_to=page_range.end,
                interval=page_range.interval,
                filters=engine_filters(filters),
            ),
        ),
        filters,
    )
    metric = request.GET.get("metric", "visitors")
    metric = metric if metric in ("visitors", "pageviews") else "visitors"
    chart: dict[str, Any] = {
        "kind": "timeseries",
        "labels": [bucket_label(point["bucket"], page_range.interval) for point in series],
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
                project=project,
                date_from=page_range.start,
                date_to=page_range.end,
                dimension=card,
                filters=engine_filters(filters),
            ),
            filters,
        )
    ]
    top = max((row["visitors"] for row in rows), default=0)
    for row in rows:
        value = "" if row["value"] is None else str(row["value"])
        row["label"] = value or EMPTY_LABELS.get(card, "(not set)")
        row["href"] = "?" + _query_with(page_range, [*filters, (card, value)])
        row["active"] = (card, value) in filters
    context = {"project": project, "rows": rows, "card": card, "title": DIMENSIONS[card], "top": top}
    return render(request, "dashboards/partials/web_card.html", context)
