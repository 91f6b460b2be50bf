"""Auth API: register, JWT obtain / refresh (rotation + blacklist) / verify, logout, rate limit."""

from __future__ import annotations

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from analytics.accounts.models import Membership, Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"


def obtain(client: APIClient, email: str, password: str = PASSWORD) -> dict:
    response = client.post("/api/v1/auth/token", {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_register_creates_user_owning_an_organisation_and_returns_tokens() -> None:
    response = APIClient().post(
        "/api/v1/auth/register", {"email": "Ada@Example.com", "password": PASSWORD, "name": "Ada"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert body["access"]
    assert body["refresh"]
    user = User.objects.get(email="ada@example.com")
    assert Membership.objects.get(user=user).role == Role.OWNER
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {body['access']}")
    assert me.get("/api/v1/projects").status_code == 200


def test_register_rejects_a_weak_password_with_a_field_error() -> None:
    response = APIClient().post("/api/v1/auth/register", {"email": "bob@example.com", "password": "123"}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "password" in error["fields"]
    assert not User.objects.filter(email="bob@example.com").exists()


def test_register_twice_with_the_same_email_is_a_clear_400() -> None:
    UserFactory(email="carol@example.com")
    response = APIClient().post(
        "/api/v1/auth/register", {"email": "CAROL@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "already exists" in response.json()["error"]["message"]


def test_token_pair_for_email_and_password_any_case() -> None:
    UserFactory(email="dan@example.com")
    tokens = obtain(APIClient(), "DAN@example.com")
    assert set(tokens) == {"access", "refresh"}


def test_wrong_password_is_401_with_an_error_code() -> None:
    UserFactory(email="erin@example.com")
    response = APIClient().post("/api/v1/auth/token", {"email": "erin@example.com", "password": "wrong"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "no_active_account"


def test_refresh_rotates_and_a_reused_rotated_refresh_token_gets_401() -> None:
    UserFactory(email="fay@example.com")
    client = APIClient()
    first = obtain(client, "fay@example.com")
    rotated = client.post("/api/v1/auth/token/refresh", {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200, rotated.content
    assert rotated.json()["refresh"] != first["refresh"]
    reused = client.post("/api/v1/auth/token/refresh", {"refresh": first["refresh"]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_not_valid"
    # The new refresh token keeps working.
    again = client.post("/api/v1/auth/token/refresh", {"refresh": rotated.json()["refresh"]}, format="json")
    assert again.status_code == 200


def test_verify_accepts_a_valid_token_and_rejects_a_tampered_one() -> None:
    UserFactory(email="gil@example.com")
    client = APIClient()
    tokens = obtain(client, "gil@example.com")
    assert client.post("/api/v1/auth/token/verify", {"token": tokens["access"]}, format="json").status_code == 200
    tampered = tokens["access"][:-2] + ("AA" if not tokens["access"].endswith("AA") else "BB")
    response = client.post("/api/v1/auth/token/verify", {"token": tampered}, format="json")
    assert response.status_code == 401


def test_logout_blacklists_the_refresh_token() -> None:
    UserFactory(email="hal@example.com")
    client = APIClient()
    tokens = obtain(client, "hal@example.com")
    assert client.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 205
    refresh = client.post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refresh.status_code == 401
    verify = client.post("/api/v1/auth/token/verify", {"token": tokens["refresh"]}, format="json")
    assert verify.status_code == 401
    assert client.post("/api/v1/auth/logout", {"refresh": tokens["refresh"]}, format="json").status_code == 401


def test_changing_the_password_revokes_existing_access_tokens() -> None:
    user = UserFactory(email="ida@example.com")
    tokens = obtain(APIClient(), "ida@example.com")
    user.set_password("another-long-passphrase-42")
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.get("/api/v1/projects").status_code == 401


def test_no_credentials_is_401() -> None:
    response = APIClient().get("/api/v1/projects")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@override_settings(AUTH_RATE_LIMIT="3/min")
def test_auth_endpoints_are_rate_limited_and_a_forged_forwarded_for_does_not_reset_it() -> None:
    client = APIClient()
    statuses = []
    for attempt in range(4):
        response = client.post(
            "/api/v1/auth/token",
            {"email": "nobody@example.com", "password": "x"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{attempt}",
        )
        statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
    body = response.json()["error"]
    assert body["code"] == "throttled"
    assert body["retry_after"] >= 1
    assert int(response["Retry-After"]) >= 1


@override_settings(REGISTRATION_OPEN=False)
def test_registration_can_be_closed_by_the_operator() -> None:
    response = APIClient().post(
        "/api/v1/auth/register", {"email": "late@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "registration_closed"
    assert not User.objects.filter(email="late@example.com").exists()
