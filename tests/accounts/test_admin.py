"""Django admin for operators: login page, every changelist and add page, key actions."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from analytics.accounts.models import PersonalApiKey, Project, User
from analytics.accounts.selectors import project_for_write_key
from analytics.accounts.services import personal_api_key_create
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator_client() -> Client:
    operator = User.objects.create_superuser(email="root@example.com", password="an-operator-passphrase")
    client = Client()
    client.force_login(operator)
    return client


def test_login_page_renders_and_accepts_the_superuser() -> None:
    User.objects.create_superuser(email="root@example.com", password="an-operator-passphrase")
    client = Client()
    assert client.get("/admin/login/").status_code == 200
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root@example.com", "password": "an-operator-passphrase"}
    )
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_every_registered_models_changelist_and_add_page_render(operator_client: Client) -> None:
    member_with_project()  # so changelists have a row to render
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = operator_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert changelist.status_code == 200, f"{meta.label} changelist: {changelist.status_code}"
        if model_admin.has_add_permission(changelist.wsgi_request):
            add = operator_client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_add"))
            assert add.status_code == 200, f"{meta.label} add page: {add.status_code}"


def test_changelist_search_and_filters_work(operator_client: Client) -> None:
    _, project = member_with_project()
    response = operator_client.get(reverse("admin:accounts_project_changelist"), {"q": project.name})
    assert response.status_code == 200
    assert project.name in response.content.decode()
    response = operator_client.get(reverse("admin:accounts_membership_changelist"), {"role__exact": "owner"})
    assert response.status_code == 200


def test_operator_adds_a_user_in_the_admin(operator_client: Client) -> None:
    response = operator_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "New.Person@Example.com",
            "usable_password": "true",
            "password1": "a-fresh-passphrase-77",
            "password2": "a-fresh-passphrase-77",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(email="new.person@example.com").check_password("a-fresh-passphrase-77")


def test_rotate_write_keys_admin_action(operator_client: Client) -> None:
    _, first = member_with_project()
    _, second = member_with_project()
    old_keys = {first.id: first.write_key, second.id: second.write_key}
    assert project_for_write_key(first.write_key) is not None  # cached before rotation
    response = operator_client.post(
        reverse("admin:accounts_project_changelist"),
        {"action": "rotate_write_keys", "_selected_action": [first.id, second.id]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Rotated 2 write key(s)." in response.content.decode()
    for project in Project.objects.filter(pk__in=old_keys):
        assert project.write_key != old_keys[project.id]
        assert project.write_key_rotated_at is not None
        assert project_for_write_key(old_keys[project.id]) is None


def test_revoke_keys_admin_action(operator_client: Client) -> None:
    user, _ = member_with_project()
    key, _ = personal_api_key_create(user=user, label="laptop")
    response = operator_client.post(
        reverse("admin:accounts_personalapikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [key.id]},
        follow=True,
    )
    assert response.status_code == 200
    assert PersonalApiKey.objects.get(pk=key.pk).revoked_at is not None
