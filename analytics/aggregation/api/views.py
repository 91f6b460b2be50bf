"""Aggregates API: rollups per bucket, global totals, one user's detail.

Members of the project's organisation only (JWT or personal API key); anyone else gets
404. Views parse, call a selector, and return.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.aggregation import selectors
from analytics.aggregation.granularity import GRANULARITY_CHOICES, Granularity
from analytics.core.inputs import query_moment
from analytics.warehouse.errors import read_or_unavailable

_MEASURE_PATTERN = r"^[A-Za-z_$][A-Za-z0-9_$]{0,99}$"


def _validated(serializer_class: type[serializers.Serializer], request: AuthenticatedRequest) -> dict[str, Any]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return dict(query.validated_data)


class _RangeInputSerializer(serializers.Serializer):
    """Query parameters with a time range, ``from`` and ``to`` (bounded: core.inputs).

    ``from`` is a Python keyword, so it is returned as ``from_``.
    """

    event = serializers.CharField(max_length=200, required=False)

    def to_internal_value(self, data: Any) -> Any:
        values = super().to_internal_value({str(key): data.get(key) for key in self.fields if data.get(key)})
        values["from_"] = query_moment(data, "from")
        values["to"] = query_moment(data, "to")
        return values


class _BucketResultSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField()
    event = serializers.CharField()
    count = serializers.IntegerField()
    unique_users = serializers.IntegerField()
    unique_persons = serializers.IntegerField()
    final = serializers.BooleanField(help_text="False: past the watermark, computed live.")


class MeasureStatsSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sum = serializers.FloatField()
    min = serializers.FloatField()
    max = serializers.FloatField()
    avg = serializers.FloatField()
    p25 = serializers.FloatField()
    p50 = serializers.FloatField()
    p75 = serializers.FloatField()
    p90 = serializers.FloatField()
    p99 = serializers.FloatField()


class AggregatesView(APIView):
    class InputSerializer(_RangeInputSerializer):
        granularity = serializers.ChoiceField(choices=GRANULARITY_CHOICES, default=Granularity.HOUR.value)
        measure = serializers.RegexField(_MEASURE_PATTERN, required=False)

    class OutputSerializer(serializers.Serializer):
        class ResultSerializer(_BucketResultSerializer):
            measure = MeasureStatsSerializer(allow_null=True, help_text="Statistics of ?measure=.")
            measures = serializers.DictField(
                child=MeasureStatsSerializer(),
                required=False,
                help_text="Every measure's statistics (when no ?measure=).",
            )

        granularity = serializers.CharField()
        timezone = serializers.CharField()
        watermark = serializers.DateTimeField(allow_null=True)
        results = ResultSerializer(many=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("granularity", enum=[value for value, _ in GRANULARITY_CHOICES]),
            OpenApiParameter("event", str),
            OpenApiParameter("measure", str),
            OpenApiParameter("from", str, description="ISO-8601 time"),
            OpenApiParameter("to", str, description="ISO-8601 time"),
        ],
        responses=OutputSerializer,
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = _validated(self.InputSerializer, request)
        return Response(
            read_or_unavailable(
                lambda: selectors.aggregates_for(
                    project=project,
                    granularity=Granularity(data["granularity"]),
                    start=data.get("from_"),
                    end=data.get("to"),
                    event=data.get("event"),
                    measure=data.get("measure"),
                )
            )
        )


class GlobalAggregatesView(APIView):
    class InputSerializer(_RangeInputSerializer):
        period = serializers.ChoiceField(choices=["day", "month"], default="day")

    class OutputSerializer(serializers.Serializer):
        class ResultSerializer(_BucketResultSerializer):
            totals = serializers.DictField(child=serializers.FloatField(), help_text="Sum of each measure.")

        period = serializers.CharField()
        timezone = serializers.CharField()
        watermark = serializers.DateTimeField(allow_null=True)
        results = ResultSerializer(many=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("period", enum=["day", "month"]),
            OpenApiParameter("event", str),
            OpenApiParameter("from", str),
            OpenApiParameter("to", str),
        ],
        responses=OutputSerializer,
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = _validated(self.InputSerializer, request)
        return Response(
            read_or_unavailable(
                lambda: selectors.global_totals_for(
                    project=project,
                    period=data["period"],
                    start=data.get("from_"),
                    end=data.get("to"),
                    event=data.get("event"),
                )
            )
        )


class UserDetailView(APIView):
    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
        cursor = serializers.CharField(max_length=200, required=False)

    class OutputSerializer(serializers.Serializer):
        class EventSerializer(serializers.Serializer):
            event_id = serializers.UUIDField()
            event = serializers.CharField()
            timestamp = serializers.DateTimeField()
            properties = serializers.DictField()
            revenue = serializers.FloatField(allow_null=True)
            session_id = serializers.CharField()
            person_id = serializers.UUIDField()

        class TotalSerializer(serializers.Serializer):
            day = serializers.DateField(required=False)
            month = serializers.DateField(required=False)
            event = serializers.CharField()
            count = serializers.IntegerField()
            totals = serializers.DictField(child=serializers.FloatField())

        class TotalsSerializer(serializers.Serializer):
            by_day = serializers.ListField(child=serializers.DictField())
            by_month = serializers.ListField(child=serializers.DictField())

        distinct_id = serializers.CharField()
        timezone = serializers.CharField()
        events = EventSerializer(many=True)
        next_cursor = serializers.CharField(allow_null=True)
        totals = TotalsSerializer()

    @extend_schema(
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses=OutputSerializer,
    )
    def get(self, request: AuthenticatedRequest, project_id: int, distinct_id: str) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = _validated(self.InputSerializer, request)
        return Response(
            read_or_unavailable(
                lambda: selectors.user_detail_for(
                    project=project,
                    distinct_id=distinct_id,
                    limit=data["limit"],
                    cursor=data.get("cursor"),
                )
            )
        )
