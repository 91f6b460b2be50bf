"""Personal API keys: create (raw key shown once), list, revoke.

A key belongs to one organisation, has a scope (``read``, ``write-config``, ``admin``) and
expires (``expires_in_days``, 90 unless given). Managing keys through a key needs ``admin``.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.accounts.models import ApiKeyScope, Organisation, PersonalApiKey
from analytics.accounts.selectors import personal_api_keys_for_user
from analytics.accounts.services import DEFAULT_API_KEY_DAYS, personal_api_key_create, personal_api_key_revoke
from analytics.accounts.typing import AuthenticatedRequest
from analytics.core.errors import NotFound

MAX_API_KEY_DAYS = 3650


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PersonalApiKey
        fields = [
            "id",
            "label",
            "prefix",
            "organisation",
            "scope",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]


class ApiKeyCreatedSerializer(ApiKeyOutputSerializer):
    key = serializers.CharField(help_text="the raw key: shown once, never again")

    class Meta(ApiKeyOutputSerializer.Meta):
        fields = [*ApiKeyOutputSerializer.Meta.fields, "key"]


class ApiKeyListCreateView(APIView):
    required_api_key_scope = ApiKeyScope.ADMIN

    class InputSerializer(serializers.Serializer):
        label = serializers.CharField(max_length=200)  # type: ignore[assignment]  # a field, not Field.label
        scope = serializers.ChoiceField(choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
        organisation = serializers.IntegerField(
            required=False, min_value=1, help_text="one of your organisations; your first when left out"
        )
        expires_in_days = serializers.IntegerField(
            default=DEFAULT_API_KEY_DAYS, min_value=1, max_value=MAX_API_KEY_DAYS
        )

    @extend_schema(responses=ApiKeyOutputSerializer(many=True))
    def get(self, request: AuthenticatedRequest) -> Response:
        return Response(ApiKeyOutputSerializer(personal_api_keys_for_user(user=request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: ApiKeyCreatedSerializer})
    def post(self, request: AuthenticatedRequest) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organisation_id = data.validated_data.get("organisation")
        organisation = Organisation.objects.filter(pk=organisation_id).first() if organisation_id else None
        if organisation_id and organisation is None:
            raise serializers.ValidationError({"organisation": ["not one of your organisations"]})
        record, raw_key = personal_api_key_create(
            user=request.user,
            label=data.validated_data["label"],
            organisation=organisation,
            scope=data.validated_data["scope"],
            expires_in_days=data.validated_data["expires_in_days"],
        )
        return Response({**ApiKeyOutputSerializer(record).data, "key": raw_key}, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(APIView):
    required_api_key_scope = ApiKeyScope.ADMIN

    @extend_schema(request=None, responses=ApiKeyOutputSerializer)
    def post(self, request: AuthenticatedRequest, key_id: int) -> Response:
        key = personal_api_keys_for_user(user=request.user).filter(pk=key_id).first()
        if key is None:
            raise NotFound("API key not found")
        return Response(ApiKeyOutputSerializer(personal_api_key_revoke(key=key)).data)
