"""The provider-facing read API and the read keys that open it.

- ``POST /api/v1/projects/{id}/read-keys`` (JWT or session, owner/admin): a new read key,
  ``{"id", "key", ...}`` (the raw key only in this answer); ``GET`` lists them,
  ``POST .../read-keys/{key_id}/revoke`` revokes one.
- ``GET /api/v1/users/{user_id}/detail?from=&to=&limit=&cursor=`` and
  ``GET /api/v1/aggregates?period=day|month&from=&to=``, authenticated by a read key
  (``Authorization: Bearer rk_...``), which names the project.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.selectors import project_get_for_user
from analytics.accounts.services import project_require_manager
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.errors import NotFound
from analytics.core.inputs import query_moment
from analytics.telecom import selectors
from analytics.telecom.api.authentication import HasReadKey, ReadKeyAuthentication
from analytics.telecom.models import ReadKey
from analytics.telecom.services import read_key_create, read_key_revoke
from analytics.warehouse.errors import read_or_unavailable

TAG = "telecom"


# ------------------------------------------------------------------ read keys
class ReadKeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReadKey
        fields = ["id", "project", "label", "prefix", "created_at", "last_used_at", "revoked_at"]


class ReadKeyCreatedSerializer(ReadKeyOutputSerializer):
    key = serializers.CharField(help_text="The raw key: shown only in this answer.")

    class Meta(ReadKeyOutputSerializer.Meta):
        fields = [*ReadKeyOutputSerializer.Meta.fields, "key"]


class ReadKeyListCreateView(APIView):
    class InputSerializer(serializers.Serializer):
        label = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)  # type: ignore[assignment]

    @extend_schema(tags=[TAG], responses=ReadKeyOutputSerializer(many=True))
    def get(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(ReadKeyOutputSerializer(selectors.read_keys_for_project(project=project), many=True).data)

    @extend_schema(tags=[TAG], request=InputSerializer, responses={201: ReadKeyCreatedSerializer})
    def post(self, request: AuthenticatedRequest, project_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record, raw_key = read_key_create(project=project, label=data.validated_data["label"], created_by=request.user)
        return Response({**ReadKeyOutputSerializer(record).data, "key": raw_key}, status=status.HTTP_201_CREATED)


class ReadKeyRevokeView(APIView):
    @extend_schema(tags=[TAG], request=None, responses=ReadKeyOutputSerializer)
    def post(self, request: AuthenticatedRequest, project_id: int, key_id: int) -> Response:
        project = project_get_for_user(user=request.user, project_id=project_id)
        project_require_manager(project=project, user=request.user)
        key = ReadKey.objects.filter(project=project, pk=key_id).first()
        if key is None:
            raise NotFound("read key not found")
        return Response(ReadKeyOutputSerializer(read_key_revoke(key=key)).data)


# ------------------------------------------------------------------ provider-facing reads
class _ProviderView(APIView):
    authentication_classes = [ReadKeyAuthentication]
    permission_classes = [HasReadKey]

    @staticmethod
    def _range(request: Request) -> selectors.Range:
        return selectors.time_range(
            query_moment(request.query_params, "from"), query_moment(request.query_params, "to")
        )


_RANGE_PARAMETERS = [
    OpenApiParameter("from", str, description="Inclusive ISO-8601 start (default: 31 days before `to`)."),
    OpenApiParameter("to", str, description="Exclusive ISO-8601 end (default: now)."),
]


class TotalSerializer(serializers.Serializer):
    date = serializers.CharField(help_text="First day of the day or month (project time zone), YYYY-MM-DD.")
    type = serializers.CharField()
    count = serializers.IntegerField()
    duration_sec = serializers.FloatField()
    bytes_up = serializers.IntegerField()
    bytes_down = serializers.IntegerField()


class ActionSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    source_id = serializers.CharField()
    user_id = serializers.CharField()
    type = serializers.CharField()
    started_at = serializers.CharField()
    ended_at = serializers.CharField(allow_null=True)
    duration_sec = serializers.FloatField(allow_null=True)
    bytes_up = serializers.IntegerField(allow_null=True)
    bytes_down = serializers.IntegerField(allow_null=True)
    meta = serializers.DictField()


class UserDetailTotalsSerializer(serializers.Serializer):
    day = TotalSerializer(many=True)
    month = TotalSerializer(many=True)


class UserDetailSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    actions = ActionSerializer(many=True)
    next = serializers.CharField(allow_null=True, help_text="Cursor of the next page (pass as `cursor`), or null.")
    totals = UserDetailTotalsSerializer()


class AggregateTotalSerializer(TotalSerializer):
    unique_users = serializers.IntegerField()


class AggregatesSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=selectors.PERIODS)
    timezone = serializers.CharField()
    totals = AggregateTotalSerializer(many=True)


class ProviderUserDetailView(_ProviderView):
    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(min_value=1, max_value=1000, default=100)
        cursor = serializers.CharField(max_length=200, required=False)

    @extend_schema(
        tags=[TAG],
        summary="A user's network actions and totals per type by day and month",
        parameters=[*_RANGE_PARAMETERS, OpenApiParameter("limit", int), OpenApiParameter("cursor", str)],
        responses=UserDetailSerializer,
    )
    def get(self, request: Request, user_id: str) -> Response:
        key: Any = request.auth
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        period = self._range(request)
        return Response(
            read_or_unavailable(
                lambda: selectors.user_detail(
                    project=key.project,
                    user_id=user_id,
                    period=period,
                    limit=data.validated_data["limit"],
                    cursor=data.validated_data.get("cursor"),
                )
            )
        )


class ProviderAggregatesView(_ProviderView):
    class InputSerializer(serializers.Serializer):
        period = serializers.ChoiceField(choices=selectors.PERIODS, default="day")

    @extend_schema(
        tags=[TAG],
        summary="All users' totals per type by day or month",
        parameters=[OpenApiParameter("period", str, enum=list(selectors.PERIODS)), *_RANGE_PARAMETERS],
        responses=AggregatesSerializer,
    )
    def get(self, request: Request) -> Response:
        key: Any = request.auth
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        period = self._range(request)
        return Response(
            read_or_unavailable(
                lambda: selectors.global_aggregates(
                    project=key.project, period_name=data.validated_data["period"], period=period
                )
            )
        )
