"""The saved-report kinds "funnels" and "paths" (registered from ``FunnelsConfig.ready``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from analytics.core.timeutils import utc_now
from analytics.funnels.model import FunnelQuery, PathsQuery
from analytics.funnels.paths import run_paths
from analytics.funnels.runner import run_funnel
from analytics.funnels.serializers import FunnelQuerySerializer, PathsQuerySerializer
from analytics.query.kinds import ReportKind, register_kind


def _validated(serializer_class: type[serializers.Serializer], project: Any, data: Mapping[str, Any]) -> Any:
    serializer = serializer_class(data=data, context={"time_zone": project.timezone, "now": utc_now()})
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["query"]


def validate_funnel(project: Any, data: Mapping[str, Any]) -> FunnelQuery:
    return _validated(FunnelQuerySerializer, project, data)


def validate_paths(project: Any, data: Mapping[str, Any]) -> PathsQuery:
    return _validated(PathsQuerySerializer, project, data)


def answer_funnel(project: Any, query: FunnelQuery, refresh: bool) -> dict[str, Any]:
    # Funnels are computed from events on every call; there is no cache to refresh.
    return run_funnel(project_id=project.id, query=query)


def answer_paths(project: Any, query: PathsQuery, refresh: bool) -> dict[str, Any]:
    return run_paths(project_id=project.id, query=query)


FUNNELS = ReportKind(name="funnels", validate=validate_funnel, run=answer_funnel)
PATHS = ReportKind(name="paths", validate=validate_paths, run=answer_paths)


def register() -> None:
    register_kind(FUNNELS)
    register_kind(PATHS)
