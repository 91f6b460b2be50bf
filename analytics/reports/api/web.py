"""``GET /api/v1/projects/{id}/web/summary|breakdown|timeseries``: web statistics.

Thin views over ``analytics.query.web`` (its docstring defines visitors, sessions, bounce
rate and the dimensions). Query parameters: ``from``/``to`` (project time zone, default the
last seven days), ``filters`` (the event-filter JSON of the trends API, URL-encoded), and
per endpoint ``compare``, ``dimension``/``limit`` or ``interval``. A non-member gets 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.query.cache import cached_answer, wants_refresh
from analytics.query.compiler.web import DIMENSIONS, FILTER_KEYS
from analytics.query.model import INTERVALS
from analytics.query.serializers import project_context
from analytics.query.web import MAX_BREAKDOWN_LIMIT, web_breakdown, web_summary, web_timeseries
from analytics.reports.api.ranges import FilteredRangeSerializer
from analytics.warehouse.errors import read_or_unavailable

_RANGE_PARAMETERS = [
    OpenApiParameter("from", str, description="start (inclusive), e.g. 2026-03-01, -7d; default -7d"),
    OpenApiParameter("to", str, description="end (exclusive); default now"),
    OpenApiParameter("filters", str, description="event-filter JSON (as in insights/trends), URL-encoded"),
    OpenApiParameter("refresh", bool, description="compute afresh instead of reading the result cache"),
]


def _validated(serializer_class: type[serializers.Serializer], request: AuthenticatedRequest, project: Any) -> Any:
    data = serializer_class(data=request.query_params, context=project_context(project))
    data.is_valid(raise_exception=True)
    return data.validated_data


def cached_read(
    request: AuthenticatedRequest, project: Any, kind: str, compute: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """The answer through the result cache (``analytics/query/cache.py``).

    The key holds the query parameters as sent and the project's session settings, which
    change the answer without new events.
    """
    query_json = {
        "params": {key: request.query_params.get(key) for key in request.query_params},
        "session_timeout_minutes": project.session_timeout_minutes,
        "session_split_at_midnight": project.session_split_at_midnight,
    }
    return cached_answer(
        kind=kind,
        query_json=query_json,
        project_id=project.id,
        time_zone=project.timezone,
        compute=lambda: read_or_unavailable(compute),
        refresh=wants_refresh(request.query_params, None),
    )


class SummaryInputSerializer(FilteredRangeSerializer):
    compare = serializers.BooleanField(default=False)


class CachedSerializer(serializers.Serializer):
    cached = serializers.BooleanField(help_text="true when served from the result cache (see computed_at)")
    computed_at = serializers.DateTimeField()


class SummarySerializer(serializers.Serializer):
    visitors = serializers.IntegerField()
    pageviews = serializers.IntegerField()
    sessions = serializers.IntegerField()
    bounce_rate = serializers.FloatField(allow_null=True, help_text="0..1; null without sessions")
    avg_visit_seconds = serializers.FloatField(allow_null=True)
    views_per_visit = serializers.FloatField(allow_null=True)


class SummaryAnswerSerializer(SummarySerializer, CachedSerializer):
    pass


class SummaryResultSerializer(CachedSerializer):
    # Required, so that a plain answer matches only SummaryAnswerSerializer in the oneOf.
    current = SummarySerializer(help_text="with compare=true")
    previous = SummarySerializer(help_text="with compare=true: the equal period before")


class SummaryView(APIView):
    @extend_schema(
        parameters=[*_RANGE_PARAMETERS, OpenApiParameter("compare", bool)],
        responses={
            200: PolymorphicProxySerializer(
                component_name="WebSummaryAnswer",
                serializers=[SummaryAnswerSerializer, SummaryResultSerializer],
                resource_type_field_name=None,
            )
        },
        description="Visitors, pageviews, sessions, bounce rate, visit duration and views per visit."
        ' With compare=true: {"current": {...}, "previous": {...}}.',
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        values = _validated(SummaryInputSerializer, request, project)

        def compute() -> dict[str, Any]:
            return web_summary(
                project=project,
                date_from=values["date_from"],
                date_to=values["date_to"],
                filters=values.get("filters"),
                compare=values["compare"],
            )

        return Response(cached_read(request, project, "web.summary", compute))


class BreakdownInputSerializer(FilteredRangeSerializer):
    dimension = serializers.ChoiceField(choices=list(DIMENSIONS))
    limit = serializers.IntegerField(min_value=1, max_value=MAX_BREAKDOWN_LIMIT, default=10)


class BreakdownRowSerializer(serializers.Serializer):
    value = serializers.CharField(allow_null=True, help_text="null: not set")
    visitors = serializers.IntegerField()
    pageviews = serializers.IntegerField()
    sessions = serializers.IntegerField(required=False, help_text="session dimensions only")


class BreakdownResultSerializer(CachedSerializer):
    dimension = serializers.CharField()
    filter_key = serializers.CharField(help_text='a row as a filter: {"key": filter_key, "operator": "eq", "value"}')
    results = BreakdownRowSerializer(many=True)


class BreakdownView(APIView):
    @extend_schema(
        parameters=[
            *_RANGE_PARAMETERS,
            OpenApiParameter("dimension", str, enum=list(DIMENSIONS), required=True),
            OpenApiParameter("limit", int, description=f"1..{MAX_BREAKDOWN_LIMIT}, default 10"),
        ],
        responses={200: BreakdownResultSerializer},
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Top values of a dimension by visitors (pages, entry/exit pages, sources, UTM, places, devices)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        values = _validated(BreakdownInputSerializer, request, project)
        dimension = values["dimension"]

        def compute() -> dict[str, Any]:
            rows = web_breakdown(
                project=project,
                date_from=values["date_from"],
                date_to=values["date_to"],
                dimension=dimension,
                filters=values.get("filters"),
                limit=values["limit"],
            )
            return {"dimension": dimension, "filter_key": FILTER_KEYS[dimension], "results": rows}

        return Response(cached_read(request, project, "web.breakdown", compute))


class TimeseriesInputSerializer(FilteredRangeSerializer):
    interval = serializers.ChoiceField(choices=list(INTERVALS), default="day")


class TimeseriesPointSerializer(serializers.Serializer):
    bucket = serializers.CharField(help_text="bucket start, ISO 8601 with the project's offset")
    visitors = serializers.IntegerField()
    pageviews = serializers.IntegerField()
    sessions = serializers.IntegerField(help_text="sessions starting in the bucket")
    bounce_rate = serializers.FloatField(allow_null=True)
    avg_visit_seconds = serializers.FloatField(allow_null=True)


class TimeseriesResultSerializer(CachedSerializer):
    interval = serializers.CharField()
    time_zone = serializers.CharField()
    points = TimeseriesPointSerializer(many=True)


class TimeseriesView(APIView):
    @extend_schema(
        parameters=[*_RANGE_PARAMETERS, OpenApiParameter("interval", str, enum=list(INTERVALS))],
        responses={200: TimeseriesResultSerializer},
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Visitors, pageviews, sessions, bounce rate and visit duration per bucket in the project's zone."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        values = _validated(TimeseriesInputSerializer, request, project)

        def compute() -> dict[str, Any]:
            points = web_timeseries(
                project=project,
                date_from=values["date_from"],
                date_to=values["date_to"],
                interval=values["interval"],
                filters=values.get("filters"),
            )
            return {"interval": values["interval"], "time_zone": project.timezone, "points": points}

        return Response(cached_read(request, project, "web.timeseries", compute))
