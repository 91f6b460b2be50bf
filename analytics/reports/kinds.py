"""The report kinds this app answers, registered in ``analytics.query.kinds`` at start-up.

``trends`` validates with ``TrendsQuerySerializer`` and runs ``run_trends``; each preset
(``analytics.query.presets``) validates with its serializer and runs ``run_preset``. The
result cache wraps every run in ``analytics.query.saved_reports.run_report_query``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analytics.query.kinds import ReportKind, register_kind
from analytics.query.presets import PRESET_KINDS, run_preset, validate_preset
from analytics.query.runner import run_trends
from analytics.query.serializers import TrendsQuerySerializer, project_context


def _validate_trends(project: Any, data: Mapping[str, Any]) -> Any:
    serializer = TrendsQuerySerializer(data=data, context=project_context(project))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data["query"]


def _run_trends(project: Any, query: Any, refresh: bool) -> dict[str, Any]:
    return run_trends(project_id=project.id, query=query)


def _preset_kind(name: str) -> ReportKind:
    def validate(project: Any, data: Mapping[str, Any]) -> Any:
        return validate_preset(name, data, time_zone=project.timezone)

    def run(project: Any, query: Any, refresh: bool) -> dict[str, Any]:
        return run_preset(project_id=project.id, query=query)

    return ReportKind(name=name, validate=validate, run=run)


_KINDS = [ReportKind(name="trends", validate=_validate_trends, run=_run_trends)]
_KINDS += [_preset_kind(name) for name in PRESET_KINDS]


def register_report_kinds() -> None:
    for kind in _KINDS:
        register_kind(kind)
