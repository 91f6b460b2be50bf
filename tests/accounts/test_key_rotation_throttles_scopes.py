"""JWT signing-key rotation, API rate limits per user and per key, scoped and expiring keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from analytics.accounts.models import PersonalApiKey
from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from tests.factories import MembershipFactory, OrganisationFactory, ProjectFactory, member_with_project

pytestmark = pytest.mark.django_db

OLD_KEY = "old-signing-key-" + "o" * 40
NEW_KEY = "new-signing-key-" + "n" * 40


def jwt_settings(signing_key: str) -> dict:
    return {**settings.SIMPLE_JWT, "SIGNING_KEY": signing_key}


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_rotated_signing_key_keeps_old_tokens_valid_until_they_expire() -> None:
    user, project = member_with_project()
    with override_settings(SIMPLE_JWT=jwt_settings(OLD_KEY), JWT_PREVIOUS_SIGNING_KEYS=[]):
        old_refresh = UserRefreshToken.for_user(user)
        old_access = str(old_refresh.access_token)
        expired = AccessToken.for_user(user)
        expired.set_exp(lifetime=timedelta(seconds=-60))
        expired_access = str(expired)
        assert bearer(old_access).get(f"/api/v1/projects/{project.id}").status_code == 200
    with override_settings(SIMPLE_JWT=jwt_settings(NEW_KEY), JWT_PREVIOUS_SIGNING_KEYS=[OLD_KEY]):
        # Old tokens still work: reads, verify, and a refresh (which hands out new-key tokens).
        assert bearer(old_access).get(f"/api/v1/projects/{project.id}").status_code == 200
        assert APIClient().post("/api/v1/auth/token/verify", {"token": old_access}, format="json").status_code == 200
        refreshed = APIClient().post("/api/v1/auth/token/refresh", {"refresh": str(old_refresh)}, format="json")
        assert refreshed.status_code == 200, refreshed.content
        new_access = refreshed.json()["access"]
        # ...but an expired one does not, previous key or not.
        assert bearer(expired_access).get(f"/api/v1/projects/{project.id}").status_code == 401
        new_user_token = str(UserRefreshToken.for_user(user).access_token)
    with override_settings(SIMPLE_JWT=jwt_settings(NEW_KEY), JWT_PREVIOUS_SIGNING_KEYS=[]):
        # New tokens were signed with the new key; once the old key is dropped, old tokens stop.
        assert bearer(new_access).get(f"/api/v1/projects/{project.id}").status_code == 200
        assert bearer(new_user_token).get(f"/api/v1/projects/{project.id}").status_code == 200
        assert bearer(old_access).get(f"/api/v1/projects/{project.id}").status_code == 401
    with override_settings(SIMPLE_JWT=jwt_settings("an-unrelated-key-" + "x" * 40), JWT_PREVIOUS_SIGNING_KEYS=[]):
        assert bearer(new_access).get(f"/api/v1/projects/{project.id}").status_code == 401


@override_settings(API_READ_RATE_LIMIT="3/min", API_WRITE_RATE_LIMIT="2/min")
def test_reads_and_writes_are_limited_per_user_and_per_key_with_retry_after() -> None:
    user, project = member_with_project()
    client = APIClient()
    client.force_authenticate(user=user)
    url = f"/api/v1/projects/{project.id}"
    statuses = [client.get(url).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    spent = client.get(url)
    assert spent.status_code == 429
    assert 1 <= int(spent["Retry-After"]) <= 60
    assert spent.json()["error"]["code"] == "throttled"
    # Writes have their own budget, untouched by the reads.
    writes = [client.patch(url, {"retention_days": 100}, format="json").status_code for _ in range(3)]
    assert writes == [200, 200, 429]
    # The user's key has its own budget; another user is not affected.
    _, raw_key = personal_api_key_create(user=user, label="ci")
    assert [bearer(raw_key).get(url).status_code for _ in range(4)] == [200, 200, 200, 429]
    other, other_project = member_with_project()
    other_client = APIClient()
    other_client.force_authenticate(user=other)
    assert other_client.get(f"/api/v1/projects/{other_project.id}").status_code == 200


QUERY_POSTS = {
    "insights/trends": {"series": [{"event": "signup"}], "interval": "day", "from": "-1d"},
    "insights/active-users": {"from": "-7d"},
    "funnels/query": {"steps": [{"event": "signup"}, {"event": "purchase"}], "window_seconds": 3600, "from": "-7d"},
    "paths/query": {"start": {"event": "signup"}, "window_seconds": 86400, "from": "-7d"},
    "cohorts/retention": {"cohort_event": {"event": "signup"}, "period": "day", "periods": 3, "from": "-7d"},
}


@pytest.mark.parametrize("path", list(QUERY_POSTS))
@override_settings(API_READ_RATE_LIMIT="2/min", API_WRITE_RATE_LIMIT="1/min")
def test_query_posts_count_as_reads(store: object, path: str) -> None:
    """Every app's query POSTs (trends, presets, funnels, paths, retention) use the read budget."""
    user, project = member_with_project()
    client = APIClient()
    client.force_authenticate(user=user)
    url = f"/api/v1/projects/{project.id}/{path}"
    codes = [client.post(url, QUERY_POSTS[path], format="json").status_code for _ in range(2)]
    assert codes == [200, 200]  # two POSTs under a write budget of one: counted as reads
    assert client.get(f"/api/v1/projects/{project.id}").status_code == 429


def test_scopes_decide_what_a_key_may_do() -> None:
    user, project = member_with_project()
    url = f"/api/v1/projects/{project.id}"
    _, read_key = personal_api_key_create(user=user, label="r")
    _, config_key = personal_api_key_create(user=user, label="w", scope="write-config")
    _, admin_key = personal_api_key_create(user=user, label="a", scope="admin")
    assert bearer(read_key).get(url).status_code == 200
    denied = bearer(read_key).patch(url, {"retention_days": 10}, format="json")
    assert denied.status_code == 403
    assert "write-config" in denied.json()["error"]["message"]
    assert bearer(config_key).patch(url, {"retention_days": 10}, format="json").status_code == 200
    # Keys, write-key rotation and new projects need the admin scope.
    assert bearer(config_key).post(f"{url}/rotate-write-key").status_code == 403
    assert bearer(config_key).get("/api/v1/api-keys").status_code == 403
    assert bearer(admin_key).post(f"{url}/rotate-write-key").status_code == 200
    created = bearer(admin_key).post("/api/v1/api-keys", {"label": "child", "scope": "read"}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["organisation"] == project.organisation_id


def test_admin_keys_need_a_managing_role_and_bad_input_names_the_field() -> None:
    member, project = member_with_project(role="member")
    client = APIClient()
    client.force_authenticate(user=member)
    assert client.post("/api/v1/api-keys", {"label": "a", "scope": "admin"}, format="json").status_code == 403
    bad = client.post("/api/v1/api-keys", {"label": "a", "scope": "root"}, format="json")
    assert bad.status_code == 400
    assert "scope" in bad.json()["error"]["fields"]
    bad = client.post("/api/v1/api-keys", {"label": "a", "expires_in_days": 0}, format="json")
    assert bad.status_code == 400
    assert "expires_in_days" in bad.json()["error"]["fields"]
    foreign = OrganisationFactory()
    bad = client.post("/api/v1/api-keys", {"label": "a", "organisation": foreign.pk}, format="json")
    assert bad.status_code == 400
    assert "organisation" in bad.json()["error"]["fields"]
    made = client.post("/api/v1/api-keys", {"label": "a", "expires_in_days": 7}, format="json").json()
    assert made["scope"] == "read"
    expires = PersonalApiKey.objects.get(pk=made["id"]).expires_at
    assert expires is not None
    assert timedelta(days=6) < expires - timezone.now() <= timedelta(days=7)
    assert project.organisation_id == made["organisation"]


def test_an_expired_key_is_refused() -> None:
    user, project = member_with_project()
    key, raw_key = personal_api_key_create(user=user, label="soon")
    assert bearer(raw_key).get(f"/api/v1/projects/{project.id}").status_code == 200
    PersonalApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(raw_key).get(f"/api/v1/projects/{project.id}")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_a_key_sees_only_its_organisations_projects() -> None:
    user, project = member_with_project()
    second_organisation = OrganisationFactory()
    MembershipFactory(user=user, organisation=second_organisation, role="owner")
    second_project = ProjectFactory(organisation=second_organisation)
    _, first_key = personal_api_key_create(user=user, label="one", organisation=project.organisation)
    _, second_key = personal_api_key_create(user=user, label="two", organisation=second_organisation, scope="admin")
    assert bearer(first_key).get(f"/api/v1/projects/{project.id}").status_code == 200
    assert bearer(first_key).get(f"/api/v1/projects/{second_project.id}").status_code == 404
    assert [p["id"] for p in bearer(first_key).get("/api/v1/projects").json()] == [project.id]
    assert [p["id"] for p in bearer(second_key).get("/api/v1/projects").json()] == [second_project.id]
    # An admin key creates projects in its own organisation only.
    made = bearer(second_key).post("/api/v1/projects", {"name": "via key"}, format="json")
    assert made.status_code == 201
    assert made.json()["id"] in [p["id"] for p in bearer(second_key).get("/api/v1/projects").json()]
    # The user's JWT/session still sees both.
    client = APIClient()
    client.force_authenticate(user=user)
    assert {p["id"] for p in client.get("/api/v1/projects").json()} >= {project.id, second_project.id}
