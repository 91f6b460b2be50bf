"""Read-back of what landed in the store, answered by the query engine.

``GET /api/v1/projects/{id}/events/count|by-type|by-user|timeseries``: JWT or personal API
key; members only (404 otherwise). ``from`` (inclusive) and ``to`` (exclusive) are
ISO-8601 within 1970..2100 (core.inputs); without them the last 24 hours. Buckets of the
time series are UTC. The responses are the ones these endpoints had when ingestion
answered them with its own SQL; they now run on ``analytics.query`` (a trends query in
UTC for counts and time series, a top-values query for the rankings), so they share its
filters, limits and rollup path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.errors import ApplicationError
from analytics.core.inputs import query_moment
from analytics.core.timeutils import utc_now
from analytics.ingestion.queries.events import INTERVAL_SECONDS, INTERVALS
from analytics.query.model import DateRange, Series, TopValuesQuery, TrendsQuery
from analytics.query.runner import run_top_values, run_trends
from analytics.streams.queries import persons as person_queries
from analytics.warehouse.store import get_store

MAX_BUCKETS = 10_000
_RANGE_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO-8601 start, inclusive (default: 24 hours ago)"),
    OpenApiParameter("to", str, description="ISO-8601 end, exclusive (default: now)"),
    OpenApiParameter("event", str, description="Only this event name"),
]


class RangeInput(serializers.Serializer):
    event = serializers.CharField(required=False, max_length=200)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=100)
    interval = serializers.ChoiceField(choices=list(INTERVALS), required=False, default="hour")

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        renamed = {key: data[key] for key in ("event", "limit", "interval") if key in data}
        values = super().to_internal_value(renamed)
        end = query_moment(data, "to") or utc_now()
        start = query_moment(data, "from") or end - timedelta(days=1)
        if start >= end:
            raise serializers.ValidationError({"from": "from must be before to"})
        values.update(start=start, end=end)
        return values


class _ReadBackView(APIView):
    def _inputs(self, request: AuthenticatedRequest, project_id: int) -> tuple[int, dict[str, Any]]:
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = RangeInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        return project.id, data.validated_data


def _range_out(values: dict[str, Any]) -> dict[str, str]:
    return {"from": values["start"].isoformat(), "to": values["end"].isoformat()}


def _utc_trend(values: dict[str, Any], interval: str, *maths: str) -> TrendsQuery:
    """One series per math over the range, UTC buckets."""
    event = values.get("event")
    return TrendsQuery(
        series=tuple(Series(event=event, math=math) for math in maths),
        interval=interval,
        date_from=values["start"],
        date_to=values["end"],
        time_zone="UTC",
    )


def _top(values: dict[str, Any], key: str) -> TopValuesQuery:
    return TopValuesQuery(
        key=key,
        date_range=DateRange(values["start"], values["end"]),
        limit=values["limit"],
        event=values.get("event"),
    )


class EventCountView(_ReadBackView):
    @extend_schema(parameters=_RANGE_PARAMETERS, responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Events, distinct ids and unique persons (identify/alias merged) in the range."""
        project_id, values = self._inputs(request, project_id)
        # Month buckets: the fewest for any range the inputs allow; only the totals are used.
        answer = run_trends(project_id=project_id, query=_utc_trend(values, "month", "total", "unique_distinct_ids"))
        events, distinct_ids = (int(series["total"]) for series in answer["series"])
        scope = {"project_id": project_id, "start": values["start"], "end": values["end"], "event": values.get("event")}
        persons = person_queries.count_unique_persons(get_store(), **scope)
        return Response(
            {"count": events, "distinct_ids": distinct_ids, "unique_persons": persons, **_range_out(values)}
        )


class EventsByTypeView(_ReadBackView):
    @extend_schema(parameters=_RANGE_PARAMETERS, responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project_id, values = self._inputs(request, project_id)
        results = [
            {"event": row["value"], "count": row["events"], "distinct_ids": row["distinct_ids"]}
            for row in run_top_values(project_id=project_id, query=_top(values, "event"))
        ]
        return Response({"results": results, **_range_out(values)})


class EventsByUserView(_ReadBackView):
    @extend_schema(parameters=_RANGE_PARAMETERS, responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project_id, values = self._inputs(request, project_id)
        results = [
            {
                "distinct_id": row["value"],
                "count": row["events"],
                "first_seen_ms": row["first_ms"],
                "last_seen_ms": row["last_ms"],
            }
            for row in run_top_values(project_id=project_id, query=_top(values, "distinct_id"))
        ]
        return Response({"results": results, **_range_out(values)})


class EventTimeseriesView(_ReadBackView):
    @extend_schema(
        parameters=[*_RANGE_PARAMETERS, OpenApiParameter("interval", str, enum=list(INTERVALS))],
        responses={200: dict},
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project_id, values = self._inputs(request, project_id)
        interval = values["interval"]
        span = (values["end"] - values["start"]).total_seconds()
        if span / INTERVAL_SECONDS[interval] > MAX_BUCKETS:
            raise ApplicationError(f"at most {MAX_BUCKETS} buckets: use a larger interval or a shorter range")
        (series,) = run_trends(project_id=project_id, query=_utc_trend(values, interval, "total"))["series"]
        points = [
            {
                "bucket": datetime.fromisoformat(point["bucket"]).astimezone(UTC).isoformat(),
                "count": int(point["value"]),
            }
            for point in series["points"]
        ]
        return Response({"interval": interval, "results": points, **_range_out(values)})
