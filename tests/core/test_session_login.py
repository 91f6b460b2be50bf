"""Session login for the server-rendered pages (any user, not only staff)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import member_with_project

pytestmark = pytest.mark.django_db


def test_pages_redirect_to_login_and_a_member_logs_in_with_email() -> None:
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
