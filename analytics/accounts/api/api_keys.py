"""Personal API keys: create (raw key shown once), list, revoke."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.models import PersonalApiKey
from analytics.accounts.selectors import personal_api_keys_for_user
from analytics.accounts.services import personal_api_key_create, personal_api_key_revoke
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.errors import NotFound


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonalApiKey
        fields = ["id", "label", "prefix", "created_at", "last_used_at", "revoked_at"]


class ApiKeyListCreateView(APIView):
    class InputSerializer(serializers.Serializer):
        label = serializers.CharField(max_length=200)  # type: ignore[assignment]  # a field, not Field.label

    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(ApiKeyOutputSerializer(personal_api_keys_for_user(user=request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ApiKeyOutputSerializer})
    def post(self, request: AuthenticatedRequest) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        record, raw_key = personal_api_key_create(user=request.user, label=data.validated_data["label"])
        return Response({**ApiKeyOutputSerializer(record).data, "key": raw_key}, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(APIView):
    @extend_schema(request=None, responses=ApiKeyOutputSerializer)
    def post(self, request: AuthenticatedRequest, key_id: int) -> Response:
        key = personal_api_keys_for_user(user=request.user).filter(pk=key_id).first()
        if key is None:
            raise NotFound("API key not found")
        return Response(ApiKeyOutputSerializer(personal_api_key_revoke(key=key)).data)
