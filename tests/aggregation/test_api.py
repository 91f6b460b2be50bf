"""Aggregates API: final rollups and live buckets, global totals, per-user detail, access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from analytics.accounts.models import Role
from analytics.accounts.services import personal_api_key_create
from analytics.accounts.tokens import UserRefreshToken
from analytics.aggregation.services import aggregation_run
from tests.aggregation.helpers import expected_rollups, insert, make_event, random_events
from tests.factories import UserFactory, member_with_project

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
MEASURES = ["revenue", "duration_sec", "bytes_up", "bytes_down"]


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def test_aggregates_return_final_rollups_and_live_buckets_past_the_watermark(store: object) -> None:
    user, project = member_with_project(role=Role.VIEWER)
    rows = random_events(project.id, START, timedelta(hours=2), 500, seed=31)
    insert(rows)
    aggregation_run(project_id=project.id, granularity="1h", now=START + timedelta(hours=1, minutes=5))

    response = client_for(user).get(
        f"/api/v1/projects/{project.id}/aggregates",
        {
            "granularity": "1h",
            "from": START.isoformat(),
            "to": (START + timedelta(hours=2)).isoformat(),
            "measure": "duration_sec",
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["watermark"] == "2026-01-05T11:00:00Z"
    expected = expected_rollups(rows, "1h", "UTC", MEASURES)
    got = {(item["bucket"], item["event"]): item for item in body["results"]}
    assert len(got) == len(expected)
    for (bucket, event), want in expected.items():
        item = got[(bucket.strftime("%Y-%m-%dT%H:%M:%SZ"), event)]
        assert item["final"] is (bucket < START + timedelta(hours=1))
        assert item["count"] == want["count"]
        assert item["unique_users"] == want["unique_users"]
        stats = want["measures"].get("duration_sec")
        if stats is None:
            assert item["measure"] is None
        else:
            assert item["measure"]["sum"] == pytest.approx(stats["sum"])
            assert item["measure"]["p90"] == pytest.approx(stats["p90"])


def test_aggregates_filter_by_event_and_list_every_measure_without_measure(store: object) -> None:
    user, project = member_with_project()
    insert(
        [
            make_event(project.id, START, event="purchase", revenue=10.0),
            make_event(project.id, START, event="purchase", distinct_id="u2", revenue=30.0),
            make_event(project.id, START, event="other"),
        ]
    )
    aggregation_run(project_id=project.id, granularity="1d", now=START + timedelta(days=2))

    response = client_for(user).get(
        f"/api/v1/projects/{project.id}/aggregates",
        {"granularity": "1d", "event": "purchase", "from": "2026-01-05T00:00:00Z", "to": "2026-01-06T00:00:00Z"},
    )

    assert response.status_code == 200, response.content
    [item] = response.json()["results"]
    assert item["final"] is True
    assert item["count"] == 2
    assert item["unique_users"] == 2
    assert item["measures"]["revenue"]["avg"] == 20.0
    assert item["measures"]["revenue"]["p50"] == 20.0


@pytest.mark.parametrize(
    "query",
    [
        {"granularity": "2h"},
        {"measure": "x;drop"},
        {"measure": "not_configured"},
        {"from": "yesterday"},
        {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        {"granularity": "1m", "from": "2025-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    ],
)
def test_bad_aggregate_queries_get_a_clear_400(store: object, query: dict[str, str]) -> None:
    user, project = member_with_project()
    response = client_for(user).get(f"/api/v1/projects/{project.id}/aggregates", query)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["message"]


def test_non_members_get_404_on_every_aggregation_endpoint(store: object) -> None:
    _, project = member_with_project()
    stranger = client_for(UserFactory())
    for path in ("aggregates", "aggregates/global", "users/u1/detail"):
        assert stranger.get(f"/api/v1/projects/{project.id}/{path}").status_code == 404
    assert APIClient().get(f"/api/v1/projects/{project.id}/aggregates").status_code == 401


def test_personal_api_key_and_jwt_both_authenticate(store: object) -> None:
    user, project = member_with_project()
    _, raw_key = personal_api_key_create(user=user, label="bi")
    by_key = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    by_jwt = APIClient(HTTP_AUTHORIZATION=f"Bearer {UserRefreshToken.for_user(user).access_token}")
    for client in (by_key, by_jwt):
        response = client.get(f"/api/v1/projects/{project.id}/aggregates/global", {"period": "month"})
        assert response.status_code == 200, response.content
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {project.write_key}").get(
        f"/api/v1/projects/{project.id}/aggregates"
    ).status_code in (401, 403)


def test_global_totals_per_event_type_by_local_day(store: object) -> None:
    user, project = member_with_project(timezone="Europe/Berlin")
    day = datetime(2026, 1, 6, 12, tzinfo=UTC)
    insert(
        [
            make_event(project.id, day, event="CALL_OUT", distinct_id="a", properties={"duration_sec": 60}),
            make_event(project.id, day, event="CALL_OUT", distinct_id="b", properties={"duration_sec": 30}),
            make_event(
                project.id,
                day + timedelta(hours=11),
                event="CALL_OUT",
                distinct_id="a",  # 00:00 Berlin
                properties={"duration_sec": 5},
            ),
            make_event(project.id, day, event="DATA", distinct_id="a", properties={"bytes_up": 100, "bytes_down": 7}),
        ]
    )
    aggregation_run(project_id=project.id, granularity="1d", now=day + timedelta(hours=12))

    response = client_for(user).get(
        f"/api/v1/projects/{project.id}/aggregates/global",
        {"period": "day", "from": "2026-01-05T23:00:00Z", "to": "2026-01-07T23:00:00Z"},
    )

    assert response.status_code == 200, response.content
    results = {(item["bucket"], item["event"]): item for item in response.json()["results"]}
    first = results[("2026-01-05T23:00:00Z", "CALL_OUT")]
    assert (first["count"], first["unique_users"], first["totals"], first["final"]) == (
        2,
        2,
        {"duration_sec": 90.0},
        True,
    )
    assert results[("2026-01-05T23:00:00Z", "DATA")]["totals"] == {"bytes_up": 100.0, "bytes_down": 7.0}
    second = results[("2026-01-06T23:00:00Z", "CALL_OUT")]
    assert (second["count"], second["totals"], second["final"]) == (1, {"duration_sec": 5.0}, False)


def test_user_detail_pages_through_events_and_totals_by_day_and_month(store: object) -> None:
    user, project = member_with_project(timezone="America/New_York")
    rows = [
        make_event(
            project.id,
            START + timedelta(hours=index * 7),
            event="SMS_SENT" if index % 2 else "DATA",
            distinct_id="subscriber/42",
            properties={"bytes_down": index},
        )
        for index in range(9)
    ]
    rows.append(make_event(project.id, START, distinct_id="someone-else"))
    insert(rows)
    client = client_for(user)
    url = f"/api/v1/projects/{project.id}/users/subscriber/42/detail"

    seen: list[str] = []
    cursor = None
    while True:
        response = client.get(url, {"limit": 4, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        body = response.json()
        seen += [event["event_id"] for event in body["events"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    mine = sorted(rows[:9], key=lambda row: row["timestamp"], reverse=True)
    assert seen == [row["event_id"] for row in mine]
    by_day = body["totals"]["by_day"]
    assert sum(item["count"] for item in by_day) == 9
    assert sum(item["totals"].get("bytes_down", 0) for item in by_day) == sum(range(9))
    # 2026-01-05 10:00 UTC is 05:00 in New York: local days, not UTC days.
    assert by_day[0]["day"] == "2026-01-05"
    assert {item["month"] for item in body["totals"]["by_month"]} == {"2026-01-01"}
    assert client.get(f"/api/v1/projects/{project.id}/users/nobody/detail").status_code == 404
    assert client.get(url, {"cursor": "!!!"}).status_code == 400
