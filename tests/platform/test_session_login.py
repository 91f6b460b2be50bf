"""Session login for the server-rendered pages (any user, not only staff)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from tests.factories import member_with_project

pytestmark = pytest.mark.django_db


def test_pages_redirect_to_login_and_a_member_logs_in_with_email(store: object) -> None:
    # "/" is the project's overview (or its empty state): it reads the event store.
    user, project = member_with_project()
    client = Client()
    assert client.get("/").url.startswith("/login/?next=/")
    assert client.get("/login/").status_code == 200
    response = client.post("/login/", {"username": user.email.upper(), "password": "correct-horse-battery-staple"})
    assert response.status_code == 302
    assert response.url == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert project.name in home.content.decode()


def test_wrong_password_shows_an_error_and_logout_ends_the_session() -> None:
    user, _ = member_with_project()
    client = Client()
    failed = client.post("/login/", {"username": user.email, "password": "wrong"})
    assert failed.status_code == 200
    assert 'role="alert"' in failed.content.decode()
    client.force_login(user)
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


@override_settings(AUTH_RATE_LIMIT="2/min")
@pytest.mark.parametrize("url", ["/login/", "/admin/login/"])
def test_login_pages_are_rate_limited_per_address(url: str) -> None:
    client = Client()
    statuses = [
        client.post(
            url, {"username": "x@example.com", "password": "guess"}, HTTP_X_FORWARDED_FOR=f"10.1.1.{n}"
        ).status_code
        for n in range(3)
    ]
    assert statuses == [200, 200, 429]
    assert client.get(url).status_code == 200  # the form itself stays reachable
