"""The result cache: hits, invalidation by new events through the real ingestion path, refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings

from analytics.accounts.services import personal_api_key_create
from analytics.query.cache import cache_key
from analytics.warehouse.data_version import bump_data_versions, data_version
from tests.factories import member_with_project
from tests.warehouse.helpers import event_row

NOW = datetime.now(UTC).replace(microsecond=0)
TREND = {"series": [{"event": "signup"}], "interval": "hour", "from": "-1d"}


@pytest.fixture
def setup(db: None, store: Any) -> tuple[Any, dict[str, str]]:
    owner, project = member_with_project(timezone="Europe/Berlin")
    _, raw_key = personal_api_key_create(user=owner, label="read")
    moment = NOW - timedelta(hours=2)
    rows = [event_row(project.id, event="signup", timestamp=moment, received_at=moment) for _ in range(3)]
    store.insert_events(rows, dedup_token=f"cache-{project.id}")
    return project, {"Authorization": f"Bearer {raw_key}"}


def trends(client: Any, project: Any, auth: dict[str, str], body: dict[str, Any], query: str = "") -> dict[str, Any]:
    response = client.post(
        f"/api/v1/projects/{project.id}/insights/trends{query}",
        data=body,
        content_type="application/json",
        headers=auth,
    )
    assert response.status_code == 200, response.content
    return response.json()


def capture(post: Any, project: Any, count: int) -> None:
    """Events through the public ingestion endpoint (API -> bus -> batch writer -> store)."""
    batch = [{"event": "signup", "distinct_id": f"new-{n}", "timestamp": NOW.isoformat()} for n in range(count)]
    assert post({"batch": batch}, key=project.write_key).json()["accepted"] == count


def test_a_repeated_query_is_answered_from_the_cache(setup, client):
    project, auth = setup

    first = trends(client, project, auth, TREND)
    second = trends(client, project, auth, TREND)
    reordered = trends(client, project, auth, {key: TREND[key] for key in reversed(list(TREND))})

    assert first["cached"] is False
    assert second["cached"] is True
    assert reordered["cached"] is True
    assert second["computed_at"] == first["computed_at"] == reordered["computed_at"]
    assert second["series"] == first["series"]
    assert first["series"][0]["total"] == 3


def test_a_different_query_is_not_served_another_answer(setup, client):
    project, auth = setup
    trends(client, project, auth, TREND)

    other = trends(client, project, auth, {**TREND, "series": [{"event": "signup", "math": "unique_users"}]})

    assert other["cached"] is False


def test_new_events_through_ingestion_invalidate_the_answer(setup, client, post):
    project, auth = setup
    before = trends(client, project, auth, TREND)
    assert trends(client, project, auth, TREND)["cached"] is True

    capture(post, project, 2)
    after = trends(client, project, auth, TREND)

    assert after["cached"] is False
    assert after["series"][0]["total"] == before["series"][0]["total"] + 2
    assert trends(client, project, auth, TREND)["cached"] is True


def test_events_of_another_project_leave_the_answer_cached(setup, client, post):
    project, auth = setup
    trends(client, project, auth, TREND)
    _, other_project = member_with_project()

    capture(post, other_project, 1)

    assert trends(client, project, auth, TREND)["cached"] is True


def test_refresh_bypasses_and_rewrites_the_entry(setup, client, store):
    project, auth = setup
    first = trends(client, project, auth, TREND)
    # Rows written behind ingestion's back (no version bump): only a refresh can see them.
    moment = NOW - timedelta(hours=1)
    store.insert_events(
        [event_row(project.id, event="signup", timestamp=moment, received_at=moment)],
        dedup_token=f"behind-{project.id}",
    )
    assert trends(client, project, auth, TREND)["series"][0]["total"] == 3

    refreshed = trends(client, project, auth, TREND, query="?refresh=true")
    by_body = trends(client, project, auth, {**TREND, "refresh": True})
    after = trends(client, project, auth, TREND)

    assert refreshed["cached"] is False
    assert by_body["cached"] is False
    assert refreshed["series"][0]["total"] == 4
    assert refreshed["computed_at"] >= first["computed_at"]
    assert after["cached"] is True
    assert after["computed_at"] == by_body["computed_at"]


@override_settings(QUERY_CACHE_TTL_SECONDS=0)
def test_a_zero_ttl_turns_the_cache_off(setup, client):
    project, auth = setup

    answers = [trends(client, project, auth, TREND) for _ in range(2)]

    assert [answer["cached"] for answer in answers] == [False, False]


def test_presets_are_cached_and_invalidated_too(setup, client, post):
    project, auth = setup
    path = f"/api/v1/projects/{project.id}/insights/top-events"
    body = {"from": "-1d"}

    def top() -> dict[str, Any]:
        response = client.post(path, data=body, content_type="application/json", headers=auth)
        assert response.status_code == 200, response.content
        return response.json()

    first, second = top(), top()
    capture(post, project, 1)
    third = top()

    assert (first["cached"], second["cached"], third["cached"]) == (False, True, False)
    assert [row["events"] for row in third["results"]] == [4]


def test_the_data_version_changes_once_per_bump_and_exists_unbumped(db):
    fresh = data_version(987_654_321)
    assert data_version(987_654_321) == fresh  # a version found missing is recorded

    bump_data_versions([987_654_321, 987_654_322, 987_654_321])
    bumped = data_version(987_654_321)

    assert bumped != fresh
    assert data_version(987_654_321) == bumped


def test_the_key_ignores_key_order_and_refresh_but_not_zone_or_version():
    base = {"kind": "trends", "project_id": 1, "time_zone": "UTC", "version": "a"}
    key = cache_key(query_json={"a": 1, "b": {"y": 2, "x": 1}}, **base)

    assert key == cache_key(query_json={"b": {"x": 1, "y": 2}, "a": 1, "refresh": True}, **base)
    assert key != cache_key(query_json={"a": 1, "b": {"y": 2, "x": 1}}, **{**base, "time_zone": "Europe/Berlin"})
    assert key != cache_key(query_json={"a": 1, "b": {"y": 2, "x": 1}}, **{**base, "version": "b"})
    assert key != cache_key(query_json={"a": 1, "b": {"y": 2, "x": 1}}, **{**base, "kind": "lifecycle"})


def test_the_key_of_a_query_with_an_integer_beyond_64_bits():
    """A JSON body may carry any integer (in a field the query ignores); the key still forms."""
    base = {"kind": "trends", "project_id": 1, "time_zone": "UTC", "version": "a"}
    key = cache_key(query_json={"a": 1, "extra": 2**70}, **base)

    assert key == cache_key(query_json={"extra": 2**70, "a": 1}, **base)
    assert key != cache_key(query_json={"a": 1, "extra": 2**70 + 1}, **base)
