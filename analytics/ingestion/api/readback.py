"""Read-back: what landed in the store. JWT or personal API key; members only (404 otherwise).

``from`` (inclusive) and ``to`` (exclusive) are ISO-8601 within 1970..2100 (core.inputs);
without them the last 24 hours.
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
from analytics.ingestion.queries import events as event_queries
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
    interval = serializers.ChoiceField(choices=list(event_queries.INTERVALS), required=False, default="hour")

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


class EventCountView(_ReadBackView):
    @extend_schema(parameters=_RANGE_PARAMETERS, responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Events, distinct ids and unique persons (identify/alias merged) in the range."""
        project_id, values = self._inputs(request, project_id)
        scope = {"project_id": project_id, "start": values["start"], "end": values["end"], "event": values.get("event")}
        store = get_store()
        row = store.query(event_queries.count_query(**scope)).dicts()[0]
        persons = person_queries.count_unique_persons(store, **scope)
        return Response(
            {
                "count": int(row["events"]),
                "distinct_ids": int(row["distinct_ids"]),
                "unique_persons": persons,
                **_range_out(values),
            }
        )


class EventsByTypeView(_ReadBackView):
    @extend_schema(parameters=_RANGE_PARAMETERS, responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project_id, values = self._inputs(request, project_id)
        query = event_queries.by_type_query(
            project_id=project_id,
            start=values["start"],
            end=values["end"],
            event=values.get("event"),
            limit=values["limit"],
        )
        results = [
            {"event": row["event"], "count": int(row["events"]), "distinct_ids": int(row["distinct_ids"])}
            for row in get_store().query(query).dicts()
        ]
        return Response({"results": results, **_range_out(values)})


class EventsByUserView(_ReadBackView):
    @extend_schema(parameters=_RANGE_PARAMETERS, responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project_id, values = self._inputs(request, project_id)
        query = event_queries.by_user_query(
            project_id=project_id,
            start=values["start"],
            end=values["end"],
            event=values.get("event"),
            limit=values["limit"],
        )
        results = [
            {
                "distinct_id": row["distinct_id"],
                "count": int(row["events"]),
                "first_seen_ms": int(row["first_ms"]),
                "last_seen_ms": int(row["last_ms"]),
            }
            for row in get_store().query(query).dicts()
        ]
        return Response({"results": results, **_range_out(values)})


class EventTimeseriesView(_ReadBackView):
    @extend_schema(
        parameters=[*_RANGE_PARAMETERS, OpenApiParameter("interval", str, enum=list(event_queries.INTERVALS))],
        responses={200: dict},
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project_id, values = self._inputs(request, project_id)
        interval = values["interval"]
        span = (values["end"] - values["start"]).total_seconds()
        if span / event_queries.INTERVAL_SECONDS[interval] > MAX_BUCKETS:
            raise ApplicationError(f"at most {MAX_BUCKETS} buckets: use a larger interval or a shorter range")
        query = event_queries.timeseries_query(
            project_id=project_id,
            start=values["start"],
            end=values["end"],
            interval=interval,
            event=values.get("event"),
        )
        points = [
            {"bucket": datetime.fromtimestamp(int(row["bucket"]), tz=UTC).isoformat(), "count": int(row["events"])}
            for row in get_store().query(query).dicts()
        ]
        return Response({"interval": interval, "results": points, **_range_out(values)})


class PersonView(APIView):
    @extend_schema(responses={200: dict})
    def get(self, request: AuthenticatedRequest, project_id: int, distinct_id: str) -> Response:
        """The person behind a distinct id: its id, properties and merged distinct ids."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(person_queries.person_get(get_store(), project_id=project.id, distinct_id=distinct_id[:200]))
