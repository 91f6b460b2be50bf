"""``POST /api/v1/projects/{id}/insights/trends``: a trends query for a member's project.

A POST because the query is a JSON document, but it only reads: personal API keys (which
may only read) are allowed. A non-member gets 404. The query model and its validation are
in ``analytics.query``; the answer's shape in ``analytics.query.runner``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.permissions import IsAuthenticatedReadQuery
from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.query.cache import cached_answer, project_rules, wants_refresh
from analytics.query.runner import run_trends
from analytics.query.serializers import TrendsQuerySerializer, project_context


class TrendsPointSerializer(serializers.Serializer):
    bucket = serializers.CharField(help_text="bucket start, ISO 8601 with the project's offset")
    value = serializers.FloatField(allow_null=True, help_text="null: a formula divided by zero")


class TrendsSeriesSerializer(serializers.Serializer):
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    event = serializers.CharField(allow_null=True)
    math = serializers.CharField(help_text='the series\' math, or "formula" for a formula line')
    property = serializers.CharField(required=False)
    formula = serializers.CharField(required=False)
    breakdown_value = serializers.CharField(required=False, allow_null=True, help_text='"$other" for the rest')
    is_other = serializers.BooleanField(required=False)
    compare = serializers.ChoiceField(choices=["current", "previous"], required=False)
    points = TrendsPointSerializer(many=True)
    total = serializers.FloatField(allow_null=True)
    source = serializers.ChoiceField(choices=["events", "rollup"])  # type: ignore[assignment]  # like Field.source


class TrendsResultSerializer(serializers.Serializer):
    series = TrendsSeriesSerializer(many=True)
    interval = serializers.CharField()
    time_zone = serializers.CharField()
    computed_at = serializers.DateTimeField()
    cached = serializers.BooleanField(help_text="true when served from the result cache (see computed_at)")
    source = serializers.ChoiceField(choices=["events", "rollup"])  # type: ignore[assignment]  # like Field.source


class TrendsView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]

    @extend_schema(request=TrendsQuerySerializer, responses={200: TrendsResultSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Event counts, unique users or sessions, per-user statistics, a property's statistics or a
        formula across series, per bucket in the project's time zone (docs/query.md)."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = TrendsQuerySerializer(data=request.data, context=project_context(project))
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data["query"]
        return Response(
            cached_answer(
                kind="trends",
                query_json=request.data,
                rules=project_rules(project),
                project_id=project.id,
                time_zone=project.timezone,
                compute=lambda: run_trends(project_id=project.id, query=query),
                refresh=wants_refresh(request.query_params, request.data),
            )
        )
