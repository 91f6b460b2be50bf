"""``GET /api/v1/projects/{id}/sessions``: a project's sessions, newest first, a page at a time.

Sessions are cut at query time with the project's session settings (the rules are in
``analytics/query/compiler/sessions.py``); ``distinct_id`` narrows the list to the
sessions of the persons whose events in the range carry it. A non-member gets 404.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.query.serializers import project_context
from analytics.query.sessions import MAX_PAGE, list_sessions
from analytics.reports.api.ranges import RangeSerializer
from analytics.warehouse.errors import read_or_unavailable


class SessionListInputSerializer(RangeSerializer):
    distinct_id = serializers.CharField(max_length=200, required=False, allow_blank=True, trim_whitespace=False)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=50)
    cursor = serializers.CharField(max_length=500, required=False)


class SessionSerializer(serializers.Serializer):
    session_key = serializers.CharField(help_text='"c:<client $session_id>" or "p:<person id>:<start ms>"')
    session_id = serializers.CharField(help_text="the client's $session_id, or empty")
    person_id = serializers.UUIDField()
    distinct_id = serializers.CharField()
    start = serializers.CharField(help_text="first event, ISO 8601 with the project's offset")
    end = serializers.CharField(help_text="last event, ISO 8601 with the project's offset")
    duration_seconds = serializers.FloatField()
    event_count = serializers.IntegerField()
    pageviews = serializers.IntegerField()
    is_bounce = serializers.BooleanField(help_text="one pageview and under 10 seconds")
    entry_url = serializers.CharField()
    exit_url = serializers.CharField()
    referrer = serializers.CharField()
    utm_source = serializers.CharField()
    utm_medium = serializers.CharField()
    utm_campaign = serializers.CharField()
    country = serializers.CharField()
    browser = serializers.CharField()
    os = serializers.CharField()
    device_type = serializers.CharField()


class SessionPageSerializer(serializers.Serializer):
    results = SessionSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="pass as cursor for the next page; null at the end")


class SessionListView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("from", str, description="start (inclusive), e.g. 2026-03-01, -7d; default -7d"),
            OpenApiParameter("to", str, description="end (exclusive); default now"),
            OpenApiParameter("distinct_id", str),
            OpenApiParameter("limit", int, description=f"1..{MAX_PAGE}, default 50"),
            OpenApiParameter("cursor", str),
        ],
        responses={200: SessionPageSerializer},
    )
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        """Sessions of the range (duration, pageviews, bounce, entry and exit URL, source), newest first."""
        project = project_get_for_user(user=request.user, project_id=project_id)
        data = SessionListInputSerializer(data=request.query_params, context=project_context(project))
        data.is_valid(raise_exception=True)
        values = data.validated_data
        page = read_or_unavailable(
            lambda: list_sessions(
                project=project,
                date_from=values["date_from"],
                date_to=values["date_to"],
                distinct_id=values.get("distinct_id") or None,  # empty: every person
                limit=values["limit"],
                cursor=values.get("cursor"),
            )
        )
        return Response(page)
