"""The sessions list and web-statistics endpoints: paging, settings, tenant 404, bad input 400, schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from analytics.accounts.services import personal_api_key_create
from tests.factories import member_with_project
from tests.warehouse.helpers import event_row

DAY = datetime(2026, 3, 29, tzinfo=UTC)
PERSON = "00000000-0000-4000-8000-00000000000a"
OTHER = "00000000-0000-4000-8000-00000000000b"


@pytest.fixture
def berlin(db: None, store: Any) -> tuple[Any, Any, dict[str, str]]:
    """A Berlin project: 7 sessions of PERSON (alice), one a bounce, and 3 of OTHER (bob)."""
    owner, project = member_with_project(timezone="Europe/Berlin")
    _, raw_key = personal_api_key_create(user=owner, label="read")
    rows = []
    for hour in range(7):  # PERSON: two pageviews 40 minutes apart every hour from 08:00Z
        first = DAY + timedelta(hours=8 + hour)
        second = first + timedelta(minutes=20 if hour else 0, seconds=0 if hour else 5)
        for moment, page in ((first, "/a"), (second, "/b")):
            rows.append(
                event_row(
                    project.id,
                    event="$pageview",
                    distinct_id="alice",
                    person_id=PERSON,
                    timestamp=moment,
                    received_at=moment,
                    url=f"https://shop.example{page}?utm_source=news",
                    referrer="https://www.google.com/",
                    browser="Firefox",
                )
            )
    for minute in (0, 45, 90):  # OTHER: one pageview each, more than 30 minutes apart
        moment = DAY + timedelta(hours=9, minutes=minute)
        rows.append(
            event_row(
                project.id,
                event="$pageview",
                distinct_id="bob",
                person_id=OTHER,
                timestamp=moment,
                received_at=moment,
                url="https://shop.example/a",
                browser="Chrome",
            )
        )
    store.insert_events(rows, dedup_token=f"sessions-api-{project.id}")
    return owner, project, {"Authorization": f"Bearer {raw_key}"}


def get(client: Client, project_id: int, path: str, headers: dict[str, str], **params: Any) -> Any:
    query = urlencode({key: value for key, value in params.items() if value is not None})
    return client.get(f"/api/v1/projects/{project_id}/{path}?{query}", headers=headers)


RANGE = {"from": "2026-03-29", "to": "2026-03-29"}


def test_sessions_page_through_newest_first(berlin, client):
    _, project, auth = berlin
    seen, cursor = [], None
    for _ in range(10):
        response = get(client, project.id, "sessions", auth, limit=3, cursor=cursor, distinct_id="", **RANGE)
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["results"]) <= 3
        seen.extend(body["results"])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == 10
    starts = [datetime.fromisoformat(s["start"]) for s in seen]
    assert starts == sorted(starts, reverse=True)
    assert len({s["session_key"] for s in seen}) == 10
    assert all(s["start"].endswith("+02:00") for s in seen)  # after the spring change in Berlin
    first_alice = min((s for s in seen if s["distinct_id"] == "alice"), key=lambda s: s["start"])
    assert first_alice["is_bounce"] is False  # two pageviews
    assert first_alice["duration_seconds"] == 5
    assert first_alice["entry_url"] == "https://shop.example/a?utm_source=news"
    assert first_alice["exit_url"] == "https://shop.example/b?utm_source=news"
    assert first_alice["utm_source"] == "news"
    assert {s["is_bounce"] for s in seen if s["distinct_id"] == "bob"} == {True}


def test_sessions_of_one_distinct_id(berlin, client):
    _, project, auth = berlin

    response = get(client, project.id, "sessions", auth, distinct_id="bob", **RANGE)

    assert response.status_code == 200, response.content
    assert [s["distinct_id"] for s in response.json()["results"]] == ["bob"] * 3


def test_the_project_timeout_setting_recuts_the_sessions(berlin, client):
    owner, project, _ = berlin
    client.force_login(owner)

    patched = client.patch(
        f"/api/v1/projects/{project.id}",
        data={"session_timeout_minutes": 50, "session_split_at_midnight": False},
        content_type="application/json",
    )

    assert patched.status_code == 200, patched.content
    assert patched.json()["session_timeout_minutes"] == 50
    assert patched.json()["session_split_at_midnight"] is False
    bob = get(client, project.id, "sessions", {}, distinct_id="bob", **RANGE).json()["results"]
    assert len(bob) == 1  # 45-minute gaps now stay within one session
    assert bob[0]["event_count"] == 3


@pytest.mark.parametrize("minutes", [0, 1441, "x"])
def test_session_timeout_bounds(berlin, client, minutes):
    owner, project, _ = berlin
    client.force_login(owner)

    response = client.patch(
        f"/api/v1/projects/{project.id}", data={"session_timeout_minutes": minutes}, content_type="application/json"
    )

    assert response.status_code == 400
    assert "session_timeout_minutes" in response.content.decode()


def test_web_summary_breakdown_and_timeseries(berlin, client):
    _, project, auth = berlin

    summary = get(client, project.id, "web/summary", auth, compare="true", **RANGE)
    breakdown = get(client, project.id, "web/breakdown", auth, dimension="browser", **RANGE)
    pages = get(client, project.id, "web/breakdown", auth, dimension="page", limit=1, **RANGE)
    series = get(client, project.id, "web/timeseries", auth, interval="hour", **RANGE)

    assert summary.status_code == 200, summary.content
    current = summary.json()["current"]
    assert current["visitors"] == 2
    assert current["pageviews"] == 17
    assert current["sessions"] == 10
    assert current["bounce_rate"] == pytest.approx(0.3)
    assert summary.json()["previous"]["sessions"] == 0
    assert breakdown.json()["results"] == [
        {"value": "Firefox", "visitors": 1, "pageviews": 14, "sessions": 7},
        {"value": "Chrome", "visitors": 1, "pageviews": 3, "sessions": 3},
    ]
    assert pages.json()["results"] == [{"value": "/a", "visitors": 2, "pageviews": 10}]
    points = series.json()["points"]
    assert len(points) == 23  # the spring-forward day in Berlin
    assert sum(p["pageviews"] for p in points) == 17
    assert sum(p["sessions"] for p in points) == 10
    assert points[0]["bounce_rate"] is None  # no session starts at local midnight


def test_web_filters_apply(berlin, client):
    _, project, auth = berlin
    filters = json.dumps([{"key": "$browser", "operator": "eq", "value": "Chrome"}])

    response = get(client, project.id, "web/summary", auth, filters=filters, **RANGE)

    assert response.status_code == 200, response.content
    assert response.json()["visitors"] == 1
    assert response.json()["sessions"] == 3


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("sessions", {"from": "2026-03-30", "to": "2026-03-29"}, "from"),
        ("sessions", {"from": "yesterday-ish"}, "from"),
        ("sessions", {"to": "soon"}, "to"),
        ("sessions", {"limit": 0}, "limit"),
        ("sessions", {"limit": 201}, "limit"),
        ("sessions", {"cursor": "not-a-cursor"}, "cursor"),
        ("sessions", {"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk6cDp4"}, "cursor"),  # an out-of-range start
        ("web/summary", {"filters": "{not json"}, "filters"),
        ("web/summary", {"filters": '[{"key": "a", "operator": "sounds_like", "value": 1}]'}, "filters"),
        ("web/summary", {"compare": "maybe"}, "compare"),
        # Python's re accepts \\Z, RE2 does not: ClickHouse's refusal becomes a 400 too.
        ("web/timeseries", {"filters": '[{"key": "$browser", "operator": "regex", "value": "x\\\\Z"}]'}, "filters"),
        (
            "web/breakdown",
            {"dimension": "os", "filters": '[{"key": "$os", "operator": "regex", "value": "\\\\Z"}]'},
            "filters",
        ),
        ("web/breakdown", {}, "dimension"),
        ("web/breakdown", {"dimension": "planet"}, "dimension"),
        ("web/breakdown", {"dimension": "page", "limit": 101}, "limit"),
        ("web/timeseries", {"interval": "fortnight"}, "interval"),
        ("web/timeseries", {"interval": "minute", "from": "-1y"}, "interval"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(berlin, client, path, params, field):
    _, project, auth = berlin

    response = get(client, project.id, path, auth, **params)

    assert response.status_code == 400, response.content
    assert field in response.content.decode()


@pytest.mark.parametrize("path", ["sessions", "web/summary", "web/breakdown?dimension=page", "web/timeseries"])
def test_another_projects_data_is_404(berlin, client, path):
    _, project, _ = berlin
    stranger, _ = member_with_project()
    client.force_login(stranger)

    response = client.get(f"/api/v1/projects/{project.id}/{path}")

    assert response.status_code == 404


def test_anonymous_requests_are_refused(berlin, client):
    _, project, _ = berlin

    response = client.get(f"/api/v1/projects/{project.id}/sessions")

    assert response.status_code in (401, 403)


def test_the_endpoints_are_in_the_openapi_schema(db, client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    for path in ("sessions", "web/summary", "web/breakdown", "web/timeseries"):
        assert f"/api/v1/projects/{{project_id}}/{path}" in schema["paths"], path


@pytest.mark.parametrize("path", ["web/summary", "web/breakdown?dimension=entry_page", "web/timeseries"])
def test_person_filters_work_in_web_statistics(berlin, client, path):
    _, project, auth = berlin
    filters = json.dumps([{"key": "plan", "type": "person", "operator": "is_not_set"}])
    separator = "&" if "?" in path else "?"

    response = client.get(
        f"/api/v1/projects/{project.id}/{path}{separator}{urlencode({'filters': filters, **RANGE})}", headers=auth
    )

    assert response.status_code == 200, response.content
    body = response.json()
    # No person has a row, so every person property is not set: everything matches.
    if "visitors" in body:
        assert body["pageviews"] == 17
    elif "points" in body:
        assert sum(p["pageviews"] for p in body["points"]) == 17
    else:
        assert sum(row["pageviews"] for row in body["results"]) == 17


def test_web_answers_are_cached_per_query_and_session_settings(berlin, client):
    owner, project, auth = berlin

    first = get(client, project.id, "web/summary", auth, **RANGE).json()
    second = get(client, project.id, "web/summary", auth, **RANGE).json()
    refreshed = get(client, project.id, "web/summary", auth, refresh="true", **RANGE).json()
    client.force_login(owner)
    client.patch(
        f"/api/v1/projects/{project.id}", data={"session_timeout_minutes": 50}, content_type="application/json"
    )
    after_change = get(client, project.id, "web/summary", auth, **RANGE).json()

    assert (first["cached"], second["cached"], refreshed["cached"]) == (False, True, False)
    assert second["computed_at"] == first["computed_at"]
    assert second["sessions"] == first["sessions"] == 10
    assert after_change["cached"] is False
    assert after_change["sessions"] == 3  # gaps of 40 and 45 minutes no longer cut: alice 2, bob 1
