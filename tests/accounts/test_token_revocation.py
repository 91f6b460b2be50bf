"""JWT revocation: atomic refresh rotation, token versions (log-out, password change), verify."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import BlacklistMixin

from analytics.accounts.models import User
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery-staple"


def obtain(client: APIClient, email: str) -> dict:
    response = client.post("/api/v1/auth/token", {"email": email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def api_status(access: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/projects").status_code


def refresh(refresh_token: str) -> int:
    return APIClient().post("/api/v1/auth/token/refresh", {"refresh": refresh_token}, format="json").status_code


def verify(token: str) -> int:
    return APIClient().post("/api/v1/auth/token/verify", {"token": token}, format="json").status_code


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_have_exactly_one_winner(monkeypatch: pytest.MonkeyPatch) -> None:
    UserFactory(email="race@example.com")
    tokens = obtain(APIClient(), "race@example.com")
    contenders = 5
    # The interleaving concurrency allows and the GIL makes rare: every request has seen the
    # token not blacklisted before any of them goes on to rotate it.
    barrier = threading.Barrier(contenders)
    check_blacklist = BlacklistMixin.check_blacklist

    def check_then_wait(token: BlacklistMixin) -> None:
        check_blacklist(token)
        barrier.wait(timeout=10)

    monkeypatch.setattr(BlacklistMixin, "check_blacklist", check_then_wait)
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def contend() -> None:
        try:
            response = APIClient().post("/api/v1/auth/token/refresh", {"refresh": tokens["refresh"]}, format="json")
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connection.close()  # each thread has its own PostgreSQL connection

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 401, 401, 401, 401], results
    losers = [body for status, body in results if status == 401]
    assert all(body["error"]["code"] == "token_not_valid" for body in losers)
    # Only the winner's refresh token is outstanding and usable besides the spent one.
    winner = next(body for status, body in results if status == 200)
    monkeypatch.undo()
    assert OutstandingToken.objects.filter(blacklistedtoken__isnull=True).count() == 1
    assert refresh(winner["refresh"]) == 200


@pytest.mark.django_db
def test_logout_revokes_the_access_token_and_other_sessions_at_once() -> None:
    UserFactory(email="out@example.com")
    here = obtain(APIClient(), "out@example.com")
    elsewhere = obtain(APIClient(), "out@example.com")
    assert api_status(here["access"]) == 200
    assert APIClient().post("/api/v1/auth/logout", {"refresh": here["refresh"]}, format="json").status_code == 205
    assert api_status(here["access"]) == 401
    assert api_status(elsewhere["access"]) == 401
    assert verify(here["access"]) == 401
    assert refresh(elsewhere["refresh"]) == 401
    # Logging in again works.
    again = obtain(APIClient(), "out@example.com")
    assert api_status(again["access"]) == 200
    assert verify(again["access"]) == 200


@pytest.mark.django_db
def test_a_password_change_revokes_refresh_tokens_and_verify_agrees_with_the_api() -> None:
    user = UserFactory(email="pw@example.com")
    tokens = obtain(APIClient(), "pw@example.com")
    assert verify(tokens["access"]) == 200
    user.set_password("another-long-passphrase-42")
    user.save()
    assert api_status(tokens["access"]) == 401
    assert verify(tokens["access"]) == 401
    assert verify(tokens["refresh"]) == 401
    assert refresh(tokens["refresh"]) == 401
    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()


@pytest.mark.django_db
def test_a_stale_user_instance_saved_later_does_not_revive_revoked_tokens() -> None:
    user = UserFactory(email="stale@example.com")
    stale = User.objects.get(pk=user.pk)
    old = obtain(APIClient(), "stale@example.com")
    assert APIClient().post("/api/v1/auth/logout", {"refresh": old["refresh"]}, format="json").status_code == 205
    stale.name = "Renamed"
    stale.save()
    assert User.objects.get(pk=user.pk).token_version == stale.token_version + 1
    assert api_status(old["access"]) == 401


@pytest.mark.django_db
def test_a_rehash_at_log_in_is_not_a_password_change() -> None:
    user = UserFactory(email="rehash@example.com")
    tokens = obtain(APIClient(), "rehash@example.com")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    user.save(update_fields=["last_login"])
    assert api_status(tokens["access"]) == 200
