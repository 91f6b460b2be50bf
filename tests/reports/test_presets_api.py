"""POST /api/v1/projects/{id}/insights/<preset>: answers, bad input, injection as data, isolation.

The presets' semantics are tested against a Python model in tests/query/test_presets.py;
here the HTTP layer: auth, cache flags, 400s naming the body's fields, 404s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from analytics.accounts.services import personal_api_key_create
from tests.factories import member_with_project
from tests.warehouse.helpers import event_row

NOW = datetime.now(UTC).replace(microsecond=0)
EVIL = "x') OR 1=1 --{project_id:UInt64}`"
PRESETS = ("active-users", "revenue", "stickiness", "lifecycle", "top-events", "top-pages", "top-referrers")


@pytest.fixture
def shop(db: None, store: Any) -> tuple[Any, dict[str, str]]:
    owner, project = member_with_project(timezone="Asia/Kolkata")
    _, raw_key = personal_api_key_create(user=owner, label="read")
    moment = NOW - timedelta(hours=3)
    rows = [
        event_row(
            project.id,
            event="$pageview",
            url="https://a.example/docs?x=1",
            referrer="https://www.google.com/",
            timestamp=moment,
            received_at=moment,
            person_id="00000000-0000-0000-0000-000000000001",
        ),
        event_row(
            project.id,
            event="$pageview",
            url="https://a.example/",
            timestamp=moment,
            received_at=moment,
            person_id="00000000-0000-0000-0000-000000000002",
        ),
        event_row(
            project.id,
            event="purchase",
            revenue=30.0,
            properties={"plan": EVIL},
            timestamp=moment,
            received_at=moment,
            person_id="00000000-0000-0000-0000-000000000001",
        ),
    ]
    store.insert_events(rows, dedup_token=f"presets-api-{project.id}")
    return project, {"Authorization": f"Bearer {raw_key}"}


def ask(client: Any, project: Any, preset: str, body: Any, auth: dict[str, str], query: str = "") -> Any:
    return client.post(
        f"/api/v1/projects/{project.id}/insights/{preset}{query}",
        data=body,
        content_type="application/json",
        headers=auth,
    )


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_answers_a_personal_api_key_through_the_cache(shop, client, preset):
    project, auth = shop

    first = ask(client, project, preset, {"from": "-2d"}, auth)
    second = ask(client, project, preset, {"from": "-2d"}, auth)
    refreshed = ask(client, project, preset, {"from": "-2d"}, auth, query="?refresh=true")

    assert first.status_code == 200, first.content
    assert (first.json()["cached"], second.json()["cached"], refreshed.json()["cached"]) == (False, True, False)
    assert first.json()["time_zone"] == "Asia/Kolkata"
    assert first.json()["from"].endswith("+05:30")


def test_the_answers_carry_the_stored_events(shop, client):
    project, auth = shop

    pages = ask(client, project, "top-pages", {"from": "-1d"}, auth).json()
    referrers = ask(client, project, "top-referrers", {"from": "-1d"}, auth).json()
    revenue = ask(client, project, "revenue", {"from": "-1d", "breakdown": {"key": "plan"}}, auth).json()
    users = ask(client, project, "active-users", {"from": "-1d"}, auth).json()

    assert {row["value"]: row["events"] for row in pages["results"]} == {"/docs": 1, "/": 1}
    assert {row["value"]: row["events"] for row in referrers["results"]} == {"www.google.com": 1, "$direct": 1}
    assert revenue["series"][0]["total"] == 30.0
    assert revenue["breakdown"] == [  # no other value has revenue: no "other" row
        {"value": EVIL, "is_other": False, "revenue": 30.0, "paying_users": 1, "revenue_per_paying_user": 30.0}
    ]
    assert max(point["mau"] for point in users["points"]) == 2


@pytest.mark.parametrize(
    ("preset", "body", "field"),
    [
        ("lifecycle", {"interval": "hour"}, "interval"),
        ("stickiness", {"from": "soon"}, "from"),
        ("top-pages", {"limit": 101}, "limit"),
        ("revenue", {"breakdown": {"key": "plan", "limit": 0}}, "breakdown"),
        ("active-users", {"from": "-20y"}, "from"),
        ("top-events", {"filters": [{"key": "p", "operator": "nope", "value": 1}]}, "filters"),
        ("revenue", {"property": ""}, "property"),
    ],
)
def test_bad_input_is_400_naming_the_field(shop, client, preset, body, field):
    project, auth = shop

    response = ask(client, project, preset, body, auth)

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_injection_in_filters_and_event_names_is_data(shop, client):
    project, auth = shop
    body = {"from": "-1d", "event": EVIL, "filters": [{"key": EVIL, "operator": "eq", "value": EVIL}]}

    for preset in PRESETS:
        response = ask(client, project, preset, body, auth)
        assert response.status_code == 200, (preset, response.content)
    top = ask(
        client,
        project,
        "top-events",
        {"from": "-1d", "filters": [{"key": "plan", "operator": "eq", "value": EVIL}]},
        auth,
    )
    assert [row["value"] for row in top.json()["results"]] == ["purchase"]


def test_a_non_member_gets_404(shop, client):
    project, _ = shop
    stranger, _ = member_with_project()
    _, raw_key = personal_api_key_create(user=stranger, label="read")

    for preset in PRESETS:
        assert ask(client, project, preset, {}, {"Authorization": f"Bearer {raw_key}"}).status_code == 404
