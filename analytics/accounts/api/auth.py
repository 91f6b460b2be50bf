"""Auth endpoints: register, JWT obtain/refresh/verify (rotation + blacklist), logout."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import (
    TokenObtainPairSerializer,
    TokenRefreshSerializer,
    TokenVerifySerializer,
)
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView, TokenVerifyView

from analytics.accounts.authentication import token_user
from analytics.accounts.models import User
from analytics.accounts.services import refresh_token_rotate, user_logout, user_register
from analytics.accounts.throttling import AccountLoginThrottle, AuthRateThrottle
from analytics.accounts.tokens import UserRefreshToken
from analytics.core.errors import ApplicationError


class _ObtainSerializer(TokenObtainPairSerializer):
    token_class = UserRefreshToken


class TokenView(TokenObtainPairView):
    """``{email, password}`` -> ``{access, refresh}``."""

    serializer_class = _ObtainSerializer
    throttle_classes = [AuthRateThrottle, AccountLoginThrottle]


class _RefreshSerializer(TokenRefreshSerializer):
    token_class = UserRefreshToken

    def validate(self, attrs: dict) -> dict:
        old = self.token_class(attrs["refresh"])  # signature, expiry, blacklist (TokenError)
        new = refresh_token_rotate(token=old, user=token_user(old))
        return {"access": str(new.access_token), "refresh": str(new)}


class TokenRefreshRotatingView(TokenRefreshView):
    """``{refresh}`` -> a new pair; the old refresh token is blacklisted (a reuse gets 401).

    Concurrent refreshes of one token: exactly one gets the new pair, the others 401.
    """

    serializer_class = _RefreshSerializer
    throttle_classes = [AuthRateThrottle]


class _VerifySerializer(TokenVerifySerializer):
    def validate(self, attrs: dict) -> dict:
        try:
            super().validate(attrs)
        except serializers.ValidationError as error:
            # simplejwt answers a blacklisted token with 400; it is an invalid token like any other.
            raise InvalidToken(str(error.detail[0] if isinstance(error.detail, list) else error.detail)) from None
        # The checks the API makes: the user exists, is active, and the token is not revoked.
        token_user(UntypedToken(attrs["token"]))
        return {}


class TokenCheckView(TokenVerifyView):
    """``{token}`` -> 200 when the API would accept the token, else 401."""

    serializer_class = _VerifySerializer
    throttle_classes = [AuthRateThrottle]


class RegistrationClosed(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    code = "registration_closed"


class RegisterView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [AuthRateThrottle]

    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField()
        password = serializers.CharField(write_only=True, max_length=128)
        name = serializers.CharField(required=False, allow_blank=True, max_length=200)
        organisation_name = serializers.CharField(required=False, max_length=200)

        def validate(self, attrs: dict) -> dict:
            try:
                validate_password(attrs["password"], User(email=attrs["email"], name=attrs.get("name", "")))
            except DjangoValidationError as error:
                raise serializers.ValidationError({"password": list(error.messages)}) from None
            attrs["email"] = attrs["email"].lower()
            return attrs

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        access = serializers.CharField()
        refresh = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request) -> Response:
        if not settings.REGISTRATION_OPEN:
            raise RegistrationClosed("registration is closed; ask an operator for an account")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if User.objects.filter(email__iexact=data.validated_data["email"]).exists():
            raise ApplicationError("an account with this e-mail already exists")
        try:
            user = user_register(**data.validated_data)
        except IntegrityError:
            raise ApplicationError("an account with this e-mail already exists") from None
        refresh = UserRefreshToken.for_user(user)
        return Response(
            {"id": user.id, "email": user.email, "access": str(refresh.access_token), "refresh": str(refresh)},
            status=status.HTTP_201_CREATED,
        )


class LogoutView(APIView):
    """Blacklist the given refresh token and revoke every token of its user (all devices)."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    throttle_classes = [AuthRateThrottle]

    class InputSerializer(serializers.Serializer):
        refresh = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={205: None})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            refresh = RefreshToken(data.validated_data["refresh"])
        except TokenError as error:
            return Response({"error": {"code": "token_not_valid", "message": str(error)}}, status=401)
        user_logout(token=refresh, user=token_user(refresh))
        return Response(status=status.HTTP_205_RESET_CONTENT)
