"""Log-in attempts are limited per account too, not only per address (guesses spread over many addresses)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@override_settings(AUTH_RATE_LIMIT="1000/min", AUTH_ACCOUNT_RATE_LIMIT="3/min")
def test_token_endpoint_limits_one_account_across_addresses() -> None:
    UserFactory(email="victim@example.com")
    client = APIClient()
    statuses = [
        client.post(
            "/api/v1/auth/token",
            {"email": email, "password": "guess"},
            format="json",
            REMOTE_ADDR=f"10.2.0.{n}",
        ).status_code
        for n, email in enumerate(
            ["victim@example.com", "Victim@Example.com", " victim@example.com", "victim@example.com"]
        )
    ]
    assert statuses == [401, 401, 401, 429]
    # Another account from the same addresses still has its own budget.
    other = client.post(
        "/api/v1/auth/token", {"email": "other@example.com", "password": "x"}, format="json", REMOTE_ADDR="10.2.0.3"
    )
    assert other.status_code == 401


@override_settings(AUTH_RATE_LIMIT="1000/min", AUTH_ACCOUNT_RATE_LIMIT="2/min")
@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_login_pages_limit_one_account_across_addresses(url: str) -> None:
    client = Client()
    statuses = [
        client.post(url, {"username": "victim@example.com", "password": "guess"}, REMOTE_ADDR=f"10.3.0.{n}").status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    other = client.post(url, {"username": "other@example.com", "password": "guess"}, REMOTE_ADDR="10.3.0.9")
    assert other.status_code == 200
