"""The saved-report kind "retention" (see ``analytics.query.kinds``).

``validate`` resolves relative dates (``-8w``) against the moment it runs, like a query
sent to the API; ``run`` ignores ``refresh``: retention is always computed from events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from analytics.cohorts.model import RetentionQuery
from analytics.cohorts.runner import run_retention
from analytics.cohorts.serializers import RetentionQuerySerializer
from analytics.core.timeutils import utc_now
from analytics.query.kinds import ReportKind


def validate_retention(project: Any, data: Mapping[str, Any]) -> RetentionQuery:
    serializer = RetentionQuerySerializer(data=data, context={"time_zone": project.timezone, "now": utc_now()})
    if not serializer.is_valid():
        raise serializers.ValidationError(serializer.errors)
    query: RetentionQuery = serializer.validated_data["query"]
    return query


def run_saved_retention(project: Any, query: RetentionQuery, refresh: bool) -> dict[str, Any]:
    return run_retention(project_id=project.id, query=query)


RETENTION_KIND = ReportKind(name="retention", validate=validate_retention, run=run_saved_retention)
