"""Read-back endpoints: counts, by type, by user, time series; members only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from tests.factories import member_with_project
from tests.ingestion.conftest import event

BASE = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def loaded(owner_and_project, post):
    owner, project = owner_and_project
    batch = [
        event("view", distinct_id="a", timestamp=at(0)),
        event("view", distinct_id="a", timestamp=at(1)),
        event("view", distinct_id="b", timestamp=at(61)),
        event("buy", distinct_id="a", timestamp=at(62)),
        event("view", distinct_id="c", timestamp=at(200)),
    ]
    assert post({"batch": batch}, key=project.write_key).json()["accepted"] == 5
    _, raw_key = personal_api_key_create(user=owner, label="read")
    return project, {"Authorization": f"Bearer {raw_key}"}


def params(**extra: str) -> dict[str, str]:
    return {"from": at(0), "to": at(180), **extra}


def test_count_has_from_inclusive_and_to_exclusive(loaded, client):
    project, auth = loaded

    body = client.get(f"/api/v1/projects/{project.id}/events/count", params(to=at(62)), headers=auth).json()

    assert (body["count"], body["distinct_ids"], body["unique_persons"]) == (3, 2, 2)


def test_count_filtered_by_event(loaded, client):
    project, auth = loaded

    body = client.get(f"/api/v1/projects/{project.id}/events/count", params(event="buy"), headers=auth).json()

    assert body["count"] == 1


def test_by_type(loaded, client):
    project, auth = loaded

    body = client.get(f"/api/v1/projects/{project.id}/events/by-type", params(), headers=auth).json()

    assert [(item["event"], item["count"]) for item in body["results"]] == [("view", 3), ("buy", 1)]


def test_by_user(loaded, client):
    project, auth = loaded

    body = client.get(f"/api/v1/projects/{project.id}/events/by-user", params(), headers=auth).json()

    assert [(item["distinct_id"], item["count"]) for item in body["results"]] == [("a", 3), ("b", 1)]


def test_timeseries_by_hour_includes_empty_buckets(loaded, client):
    project, auth = loaded

    body = client.get(f"/api/v1/projects/{project.id}/events/timeseries", params(interval="hour"), headers=auth).json()

    assert [item["count"] for item in body["results"]] == [2, 2, 0]
    assert body["results"][0]["bucket"] == BASE.isoformat()


def test_timeseries_by_minute_and_day(loaded, client):
    project, auth = loaded
    url = f"/api/v1/projects/{project.id}/events/timeseries"

    minutes = client.get(url, params(interval="minute", to=at(3)), headers=auth).json()["results"]
    days = client.get(url, {"from": at(-60 * 24 * 2), "to": at(300), "interval": "day"}, headers=auth).json()["results"]

    assert [item["count"] for item in minutes] == [1, 1, 0]
    assert sum(item["count"] for item in days) == 5


def test_bad_range_and_interval_are_400(loaded, client):
    project, auth = loaded
    url = f"/api/v1/projects/{project.id}/events/timeseries"

    assert client.get(url, {"from": "yesterday"}, headers=auth).status_code == 400
    assert client.get(url, params(interval="week"), headers=auth).status_code == 400
    assert client.get(url, {"from": at(10), "to": at(0)}, headers=auth).status_code == 400
    assert client.get(url, {"from": at(-(10**5)), "to": at(0), "interval": "minute"}, headers=auth).status_code == 400


def test_jwt_works_too(loaded, client, owner_and_project):
    project, _ = loaded
    token = UserRefreshToken.for_user(owner_and_project[0]).access_token

    response = client.get(
        f"/api/v1/projects/{project.id}/events/count", params(), headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["count", "by-type", "by-user", "timeseries"])
def test_non_member_gets_404_on_every_endpoint(loaded, client, path):
    project, _ = loaded
    stranger, _ = member_with_project()
    _, raw_key = personal_api_key_create(user=stranger, label="other")

    response = client.get(
        f"/api/v1/projects/{project.id}/events/{path}", headers={"Authorization": f"Bearer {raw_key}"}
    )

    assert response.status_code == 404


@pytest.mark.parametrize("path", ["count", "by-type", "by-user", "timeseries"])
def test_anonymous_and_write_key_get_401(loaded, client, path):
    project, _ = loaded
    url = f"/api/v1/projects/{project.id}/events/{path}"

    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": f"Bearer {project.write_key}"}).status_code == 401


def test_person_endpoint_shows_merged_ids_and_properties(owner_and_project, post, client):
    owner, project = owner_and_project
    post(
        event("$identify", distinct_id="user-5", properties={"$anon_distinct_id": "anon-5", "$set": {"plan": "pro"}}),
        key=project.write_key,
    )
    _, raw_key = personal_api_key_create(user=owner, label="read")

    body = client.get(
        f"/api/v1/projects/{project.id}/persons/anon-5", headers={"Authorization": f"Bearer {raw_key}"}
    ).json()
    stranger, _ = member_with_project()
    client.force_login(stranger)

    assert body["properties"] == {"plan": "pro"}
    assert body["distinct_ids"] == ["anon-5", "user-5"]
    assert client.get(f"/api/v1/projects/{project.id}/persons/anon-5").status_code == 404
