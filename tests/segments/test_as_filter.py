"""A segment as a filter of a trend (the query layer calls this app's resolver)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from analytics.segments import services
from analytics.warehouse.identity import person_id_for
from tests.factories import member_with_project
from tests.segments.helpers import BUYERS, expected, generate, members, store_world

NOW = datetime.now(UTC).replace(microsecond=0)
DEFINITION = BUYERS


def _trend(client: Any, project: Any, operator: str, segment_id: int) -> Any:
    body = {
        "series": [{"event": "pageview", "math": "total"}, {"event": None, "math": "unique_users"}],
        "interval": "day",
        "from": "-30d",
        "filters": [{"type": "segment", "key": "id", "operator": operator, "value": segment_id}],
    }
    return client.post(f"/api/v1/projects/{project.id}/insights/trends", body, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("materialised", [False, True], ids=["query-time", "materialised"])
def test_a_trend_filtered_by_a_segment_counts_only_its_members(store, client, settings, materialised):
    owner, project = member_with_project()
    client.force_login(owner)
    world = generate(project.id, now=NOW, seed=21)
    store_world(store, world)
    segment = services.segment_create(project=project, name="buyers", definition=DEFINITION)
    if materialised:
        settings.SEGMENT_MATERIALISE_THRESHOLD = 1
        services.segment_refresh(segment=segment)
        segment.refresh_from_db()
        assert segment.is_materialised
    members = expected(segment.definition, world)
    start = datetime.fromisoformat(_trend(client, project, "in", segment.id).json()["from"])
    recent = [row for row in world.events if row["timestamp"] >= start]

    for operator, keep in (("in", lambda person: person in members), ("not_in", lambda person: person not in members)):
        response = _trend(client, project, operator, segment.id)
        assert response.status_code == 200, response.content
        pageviews, users = response.json()["series"]
        rows = [row for row in recent if keep(row["person_id"])]
        assert pageviews["total"] == sum(1 for row in rows if row["event"] == "pageview")
        assert users["total"] == len({row["person_id"] for row in rows})
    assert members


@pytest.mark.django_db
def test_a_trend_on_a_deleted_segment_is_a_400(store, client):
    owner, project = member_with_project()
    client.force_login(owner)
    segment = services.segment_create(project=project, name="gone", definition=DEFINITION)
    segment_id = segment.id
    services.segment_delete(segment=segment)
    response = _trend(client, project, "in", segment_id)
    assert response.status_code == 400
    assert f"segment {segment_id} no longer exists" in response.content.decode()


@pytest.mark.django_db
def test_behavioral_filters_take_person_filters_but_not_segments(store):
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=4)
    store_world(store, world)
    pro_purchases = {
        "op": "and",
        "conditions": [
            {
                "kind": "behavioral",
                "event": "purchase",
                "filters": [{"type": "person", "key": "plan", "operator": "eq", "value": "pro"}],
                "count": 1,
            }
        ],
    }
    segment = services.segment_create(project=project, name="pro buyers", definition=pro_purchases)
    plain = {**pro_purchases["conditions"][0], "filters": []}
    want = expected({"op": "and", "conditions": [plain]}, world) & {
        person for person, props in world.persons.items() if props.get("plan") == "pro"
    }
    assert members(store, project.id, segment.id, now=NOW) == want

    nested_segment = {
        "op": "and",
        "conditions": [
            {
                "kind": "behavioral",
                "event": "purchase",
                "filters": [{"type": "segment", "key": "id", "operator": "in", "value": segment.id}],
            }
        ],
    }
    with pytest.raises(ValidationError) as error:
        services.segment_create(project=project, name="x", definition=nested_segment)
    assert "conditions[0].filters" in error.value.detail["definition"]  # type: ignore[index,call-overload]


@pytest.mark.django_db
def test_a_cached_trend_is_not_served_after_the_segment_changes(store, client):
    owner, project = member_with_project()
    client.force_login(owner)
    world = generate(project.id, now=NOW, seed=8, persons=12)
    for row in world.events:  # as ingestion writes them: the distinct id's own person
        row["person_id"] = person_id_for(project.id, row["distinct_id"])
    store_world(store, world)
    segment = services.segment_create_static(project=project, name="list", distinct_ids=["user-0"])

    def assert_pageviews_of(distinct_ids: set[str], answer: Any) -> None:
        start = datetime.fromisoformat(answer["from"])
        want = [
            row
            for row in world.events
            if row["distinct_id"] in distinct_ids and row["timestamp"] >= start and row["event"] == "pageview"
        ]
        assert answer["series"][0]["total"] == len(want)

    _trend(client, project, "in", segment.id)
    again = _trend(client, project, "in", segment.id).json()
    assert again["cached"] is True
    assert_pageviews_of({"user-0"}, again)

    services.static_members_add(segment=segment, distinct_ids=["user-1", "user-2"])
    after = _trend(client, project, "in", segment.id).json()
    assert after["cached"] is False
    assert_pageviews_of({"user-0", "user-1", "user-2"}, after)
    assert after["series"][0]["total"] > again["series"][0]["total"]
