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


def _breakdown_trend(client: Any, project: Any, segment_key: Any, **extra: Any) -> Any:
    body = {
        "series": [{"event": "pageview", "math": "total"}, {"event": None, "math": "unique_users"}],
        "interval": "day",
        "from": "-30d",
        "breakdown": {"type": "segment", "key": segment_key, **extra},
    }
    return client.post(f"/api/v1/projects/{project.id}/insights/trends", body, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("materialised", [False, True], ids=["query-time", "materialised"])
def test_a_trend_broken_down_by_a_segment_splits_members_from_the_rest(store, client, settings, materialised):
    owner, project = member_with_project()
    client.force_login(owner)
    world = generate(project.id, now=NOW, seed=31)
    store_world(store, world)
    segment = services.segment_create(project=project, name="buyers", definition=DEFINITION)
    if materialised:
        settings.SEGMENT_MATERIALISE_THRESHOLD = 1
        services.segment_refresh(segment=segment)
        segment.refresh_from_db()
        assert segment.is_materialised
    members = expected(segment.definition, world)
    assert members
    assert world.event_persons() - members

    # A limit below two is not a reason to fold one side into "other".
    response = _breakdown_trend(client, project, segment.id, limit=1)
    assert response.status_code == 200, response.content
    answer = response.json()
    start = datetime.fromisoformat(answer["from"])
    recent = [row for row in world.events if row["timestamp"] >= start]
    lines = {(line["event"], line["math"], line["breakdown_value"]): line for line in answer["series"]}
    assert len(lines) == 4
    assert not any(line["is_other"] for line in answer["series"])
    for value, inside in (("in", True), ("not_in", False)):
        rows = [row for row in recent if (row["person_id"] in members) == inside]
        pageviews = lines[("pageview", "total", value)]
        assert pageviews["total"] == sum(1 for row in rows if row["event"] == "pageview")
        assert sum(point["value"] for point in pageviews["points"]) == pageviews["total"]
        assert lines[(None, "unique_users", value)]["total"] == len({row["person_id"] for row in rows})
    label = lines[("pageview", "total", "not_in")]["label"]
    assert label == f"pageview · not in segment {segment.id}"


@pytest.mark.django_db
def test_a_segment_breakdown_of_sessions_and_formulas_agrees_with_the_segment_filter(store, client):
    owner, project = member_with_project()
    client.force_login(owner)
    world = generate(project.id, now=NOW, seed=32)
    store_world(store, world)
    segment = services.segment_create(project=project, name="buyers", definition=DEFINITION)
    url = f"/api/v1/projects/{project.id}/insights/trends"
    series = [{"event": "pageview", "math": "unique_sessions"}, {"event": None, "math": "avg_per_user"}]
    split = client.post(
        url,
        {"series": series, "from": "-30d", "breakdown": {"type": "segment", "key": str(segment.id)}},
        content_type="application/json",
    ).json()["series"]
    by_value = {(line["math"], line["breakdown_value"]): line["total"] for line in split}
    for operator in ("in", "not_in"):
        filtered = client.post(
            url,
            {
                "series": series,
                "from": "-30d",
                "filters": [{"type": "segment", "key": "id", "operator": operator, "value": segment.id}],
            },
            content_type="application/json",
        ).json()["series"]
        assert by_value[("unique_sessions", operator)] == filtered[0]["total"]
        assert by_value[("avg_per_user", operator)] == pytest.approx(filtered[1]["total"])
    assert by_value[("unique_sessions", "in")] > 0

    formula = client.post(
        url,
        {
            "series": [{"event": "pageview"}, {"event": None}],
            "formula": "A / B * 100",
            "from": "-30d",
            "breakdown": {"type": "segment", "key": segment.id},
        },
        content_type="application/json",
    ).json()["series"]
    assert sorted(line["label"] for line in formula) == [
        f"A / B * 100 · in segment {segment.id}",
        f"A / B * 100 · not in segment {segment.id}",
    ]


@pytest.mark.django_db
def test_a_segment_breakdown_of_a_missing_or_foreign_segment_is_a_400(store, client):
    owner, project = member_with_project()
    _, other_project = member_with_project()
    client.force_login(owner)
    foreign = services.segment_create(project=other_project, name="theirs", definition=DEFINITION)
    gone = services.segment_create(project=project, name="gone", definition=DEFINITION)
    gone_id = gone.id
    services.segment_delete(segment=gone)
    for segment_id in (gone_id, foreign.id):
        response = _breakdown_trend(client, project, segment_id)
        assert response.status_code == 400, response.content
        assert f"segment {segment_id} no longer exists" in response.content.decode()

    for bad in ("plan", "-3", "0", "1.5", "١٢"):
        response = _breakdown_trend(client, project, bad)
        assert response.status_code == 400
        fields = response.json()["error"]["fields"]
        assert fields["breakdown"]["key"] == ["a segment id (a positive integer)"], bad


@pytest.mark.django_db
def test_a_segment_breakdown_shows_both_sides_even_when_one_is_empty(store, client):
    owner, project = member_with_project()
    client.force_login(owner)
    store_world(store, generate(project.id, now=NOW, seed=33, persons=10))
    everyone = {"op": "and", "conditions": [{"kind": "behavioral", "event": None, "count": 1}]}
    segment = services.segment_create(project=project, name="everyone", definition=everyone)
    answer = _breakdown_trend(client, project, segment.id).json()
    lines = {(line["math"], line["breakdown_value"]): line for line in answer["series"]}
    assert lines[("total", "in")]["total"] > 0
    outside = lines[("total", "not_in")]
    assert outside["total"] == 0
    assert {point["value"] for point in outside["points"]} == {0}
    assert [line["breakdown_value"] for line in answer["series"]] == ["in", "not_in", "in", "not_in"]
