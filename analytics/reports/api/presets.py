"""``POST /api/v1/projects/{id}/insights/<preset>``: the preset reports of ``analytics.query.presets``.

``active-users``, ``revenue``, ``stickiness``, ``lifecycle``, ``top-events``, ``top-pages``,
``top-referrers``. Like trends: a POST that only reads (personal API keys allowed), a
non-member gets 404, bad input 400 naming the field, answers through the result cache
(``?refresh=true`` or ``"refresh": true`` computes afresh) with ``cached`` and ``computed_at``.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.permissions import IsAuthenticatedReadQuery
from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.typing import AuthenticatedRequest
from analytics.query.cache import cached_answer, wants_refresh, without_refresh
from analytics.query.presets import PRESETS, Preset, run_preset, validate_preset

REFRESH = OpenApiParameter("refresh", bool, description="true: compute afresh and rewrite the cached answer")


class PresetResultSerializer(serializers.Serializer):
    kind = serializers.CharField()
    points = serializers.JSONField(required=False, help_text="active_users, stickiness, lifecycle")
    series = serializers.JSONField(required=False, help_text="revenue: revenue, paying_users, revenue_per_paying_user")
    breakdown = serializers.JSONField(required=False, allow_null=True, help_text="revenue by a property")
    results = serializers.JSONField(required=False, help_text="top_events, top_pages, top_referrers")
    total = serializers.JSONField(required=False)
    time_zone = serializers.CharField()
    computed_at = serializers.DateTimeField()
    cached = serializers.BooleanField()


class PresetView(APIView):
    permission_classes = [IsAuthenticatedReadQuery]
    preset: Preset

    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        body = without_refresh(request.data)
        # Validated here (not only inside the cache) so that errors name the body's own fields.
        query = validate_preset(self.preset.kind, body, time_zone=project.timezone)
        return Response(
            cached_answer(
                kind=self.preset.kind,
                query_json=body,
                project_id=project.id,
                time_zone=project.timezone,
                compute=lambda: run_preset(project_id=project.id, query=query),
                refresh=wants_refresh(request.query_params, request.data),
            )
        )


def _view(preset: Preset) -> type[PresetView]:
    def post(self: PresetView, request: AuthenticatedRequest, project_id: int) -> Response:
        return PresetView.post(self, request, project_id)

    post.__doc__ = f"{preset.title}: see analytics/query/presets.py and docs/query.md."
    decorated = extend_schema(
        request=preset.serializer,
        responses={200: PresetResultSerializer},
        parameters=[REFRESH],
        operation_id=f"insights_{preset.kind}",
    )(post)
    name = "".join(part.title() for part in preset.kind.split("_")) + "PresetView"
    return type(name, (PresetView,), {"preset": preset, "post": decorated})


PRESET_VIEWS = {preset.path: _view(preset) for preset in PRESETS.values()}
