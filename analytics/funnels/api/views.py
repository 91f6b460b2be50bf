"""Funnels and paths endpoints: ``POST /api/v1/projects/{id}/funnels/...`` and ``/paths/query``.

POSTs because queries are JSON documents, but they only read: personal API keys may call
them. A non-member gets 404. Semantics: ``analytics/funnels/__init__.py`` (funnels) and
``analytics/funnels/paths.py`` (paths); docs/funnels.md has examples.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

import analytics.funnels as funnels_package
from analytics.accounts.models import EDITING_ROLES
from analytics.accounts.permissions import IsAuthenticatedApiKeysReadOnly, IsAuthenticatedReadQuery
from analytics.accounts.selectors import project_get_for_user, role_for
from analytics.accounts.services import PermissionDeniedError
from analytics.accounts.typing import AuthenticatedRequest
from analytics.funnels import paths as paths_module
from analytics.funnels.model import FunnelQuery
from analytics.funnels.paths import run_paths
from analytics.funnels.runner import actor_distinct_ids, run_actors, run_funnel, run_histogram, run_trend
from analytics.funnels.serializers import (
    ActorsSerializer,
    FunnelQuerySerializer,
    HistogramSerializer,
    PathsQuerySerializer,
    TrendSerializer,
)
from analytics.query.cache import cached_answer, wants_refresh
from analytics.query.serializers import project_context
from analytics.segments.services import segment_create_static

# The API docs state the semantics as the modules do (one text, no drift).
FUNNEL_SEMANTICS = inspect.cleandoc(funnels_package.__doc__ or "")
PATHS_SEMANTICS = inspect.cleandoc(paths_module.__doc__ or "")


def _cached(
    request: AuthenticatedRequest, project: Any, kind: str, compute: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Through the result cache shared with saved reports of the same kind (``?refresh=true`` skips it)."""
    return cached_answer(
        kind=kind,
        query_json=request.data,
        project_id=project.id,
        time_zone=project.timezone,
        compute=compute,
        refresh=wants_refresh(request.query_params, request.data),
    )


def funnel_from(data: Any, project: Any, field: str = "funnel") -> FunnelQuery:
    """The nested funnel of an actors/histogram/trend request; errors nest under ``field``."""
    serializer = FunnelQuerySerializer(data=data, context=project_context(project))
    if not serializer.is_valid():
        raise serializers.ValidationError({field: serializer.errors})
    return serializer.validated_data["query"]


def _check_step(query: FunnelQuery, field: str, value: int, *, minimum: int = 0) -> None:
    last = len(query.steps) - 1
    if not minimum <= value <= last:
        raise serializers.ValidationError({field: [f"must be between {minimum} and {last}"]})


class StepResultSerializer(serializers.Serializer):
    event = serializers.CharField(help_text="the step's name, or its events joined by 'or'")
    events = serializers.ListField(child=serializers.CharField())
    name = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()
    conversion_from_start = serializers.FloatField()
    conversion_from_previous = serializers.FloatField()
    dropped = serializers.IntegerField(help_text="reached the previous step but not this one")
    median_seconds_to_convert = serializers.FloatField(allow_null=True)
    avg_seconds_to_convert = serializers.FloatField(allow_null=True)


class FunnelBreakdownResultSerializer(serializers.Serializer):
    breakdown_value = serializers.CharField(allow_null=True, help_text='"$other" for the rest; null: not set')
    is_other = serializers.BooleanField()
    steps = StepResultSerializer(many=True)


class FunnelResultSerializer(serializers.Serializer):
    steps = StepResultSerializer(many=True)
    breakdown = FunnelBreakdownResultSerializer(many=True, required=False)
    order = serializers.CharField()
    window_seconds = serializers.IntegerField()
    time_zone = serializers.CharField()
    computed_at = serializers.DateTimeField()
    cached = serializers.BooleanField(help_text="answered from the result cache")


class ActorSerializer(serializers.Serializer):
    person_id = serializers.UUIDField()
    distinct_ids = serializers.ListField(child=serializers.CharField())
    properties = serializers.DictField()
    reached_steps = serializers.IntegerField()


class ActorsResultSerializer(serializers.Serializer):
    results = ActorSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="cursor of the next page")


class HistogramBinSerializer(serializers.Serializer):
    from_seconds = serializers.FloatField()
    to_seconds = serializers.FloatField()
    persons = serializers.IntegerField()


class HistogramResultSerializer(serializers.Serializer):
    bins = HistogramBinSerializer(many=True)
    persons = serializers.IntegerField()


class TrendPointSerializer(serializers.Serializer):
    bucket = serializers.CharField()
    entered = serializers.IntegerField()
    converted = serializers.IntegerField()
    conversion_rate = serializers.FloatField()


class TrendResultSerializer(serializers.Serializer):
    points = TrendPointSerializer(many=True)
    interval = serializers.CharField()
    to_step = serializers.IntegerField()


class PathNodeSerializer(serializers.Serializer):
    id = serializers.CharField(help_text='"<step>_<name>", unique per step')
    name = serializers.CharField()
    step = serializers.IntegerField()
    value = serializers.IntegerField()


class PathEdgeSerializer(serializers.Serializer):
    source = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.source
    target = serializers.CharField()
    value = serializers.IntegerField()


class PathsResultSerializer(serializers.Serializer):
    nodes = PathNodeSerializer(many=True)
    edges = PathEdgeSerializer(many=True)
    persons = serializers.IntegerField()
    truncated = serializers.BooleanField()
    computed_at = serializers.DateTimeField()
    cached = serializers.BooleanField(help_text="answered from the result cache")


class FunnelQueryView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=FunnelQuerySerializer, responses={200: FunnelResultSerializer}, description=FUNNEL_SEMANTICS)
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Persons entering and reaching each step, conversion rates and times (per breakdown value)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = FunnelQuerySerializer(data=request.data, context=project_context(project))
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data["query"]
        return Response(_cached(request, project, "funnels", lambda: run_funnel(project_id=project.id, query=query)))


class FunnelActorsView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=ActorsSerializer, responses={200: ActorsResultSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Persons who converted at (reached) step N, or dropped there (reached N-1, not N); cursor pages."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = ActorsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        query = funnel_from(data["funnel"], project)
        _check_step(query, "step", data["step"], minimum=1 if data["status"] == "dropped" else 0)
        answer = run_actors(
            project_id=project.id,
            query=query,
            step=data["step"],
            status=data["status"],
            breakdown_value=data.get("breakdown_value"),
            cursor=data.get("cursor") or None,
            limit=data["limit"],
        )
        return Response(answer)


class FunnelHistogramView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=HistogramSerializer, responses={200: HistogramResultSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Persons per bin of the time from step ``from_step`` to ``to_step`` (default: first to last)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = HistogramSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        query = funnel_from(data["funnel"], project)
        to_step = data.get("to_step", len(query.steps) - 1)
        _check_step(query, "to_step", to_step, minimum=1)
        if data["from_step"] >= to_step:
            raise serializers.ValidationError({"from_step": ["must be before to_step"]})
        answer = run_histogram(
            project_id=project.id, query=query, from_step=data["from_step"], to_step=to_step, bins=data["bins"]
        )
        return Response(answer)


class FunnelTrendView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=TrendSerializer, responses={200: TrendResultSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Conversion rate to ``to_step`` per day or week of entry, in the project's time zone."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = TrendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        query = funnel_from(data["funnel"], project)
        to_step = data.get("to_step", len(query.steps) - 1)
        _check_step(query, "to_step", to_step, minimum=1)
        return Response(run_trend(project_id=project.id, query=query, interval=data["interval"], to_step=to_step))


class PathsQueryView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=PathsQuerySerializer, responses={200: PathsResultSerializer}, description=PATHS_SEMANTICS)
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """The most common paths after a start event or before an end event, as Sankey nodes and edges."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = PathsQuerySerializer(data=request.data, context=project_context(project))
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data["query"]
        return Response(_cached(request, project, "paths", lambda: run_paths(project_id=project.id, query=query)))


class SaveAsSegmentSerializer(ActorsSerializer):
    name = serializers.CharField(max_length=200)
    cursor = None  # type: ignore[assignment]  # the whole selection, not a page
    limit = None  # type: ignore[assignment]


class SavedSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    members = serializers.IntegerField(help_text="distinct ids saved")


class FunnelSaveSegmentView(APIView):
    permission_classes = [IsAuthenticatedApiKeysReadOnly]

    @extend_schema(request=SaveAsSegmentSerializer, responses={201: SavedSegmentSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Save the persons who converted at (or dropped at) step N as a static segment of their distinct ids."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        role = role_for(user=request.user, project=project) or "none"
        if role not in EDITING_ROLES:
            raise PermissionDeniedError(f"your role ({role}) cannot create segments")
        serializer = SaveAsSegmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        query = funnel_from(data["funnel"], project)
        _check_step(query, "step", data["step"], minimum=1 if data["status"] == "dropped" else 0)
        distinct_ids = actor_distinct_ids(
            project_id=project.id,
            query=query,
            step=data["step"],
            status=data["status"],
            breakdown_value=data.get("breakdown_value"),
        )
        segment = segment_create_static(
            project=project, name=data["name"], distinct_ids=distinct_ids, created_by=request.user
        )
        return Response({"id": segment.id, "name": segment.name, "members": len(distinct_ids)}, status=201)
