"""The size history's back-fill: past days' sizes as of each day's end, from the events."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from analytics.segments import history, services
from analytics.segments.models import SegmentSize
from analytics.segments.selectors import history_days
from analytics.segments.tasks import segments_history_backfill
from tests.factories import member_with_project
from tests.segments.helpers import World, expected, generate, store_world

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()
# Each part reads the past differently: a window ending at the day's end, first seen
# (the universe grows), last seen (quiet persons), a person property (today's).
DEFINITION: dict[str, Any] = {
    "op": "or",
    "conditions": [
        {"kind": "behavioral", "event": "purchase", "count_operator": "gte", "count": 2, "within_days": 10},
        {"kind": "behavioral", "behavior": "first_seen", "within_days": 5},
        {
            "op": "and",
            "conditions": [
                {"kind": "behavioral", "behavior": "last_seen", "more_than_days": 15},
                {"kind": "person", "key": "plan", "operator": "eq", "value": "pro"},
            ],
        },
    ],
}


def _as_of(world: World, day: date) -> World:
    """The world as it stood at the day's end: only the events before it, persons as today."""
    end = history.day_end(day)
    return World(
        project_id=world.project_id,
        now=end,
        time_zone=world.time_zone,
        events=[row for row in world.events if row["timestamp"] < end],
        persons=world.persons,
    )


def _history(segment: Any) -> dict[date, SegmentSize]:
    return {row.day: row for row in SegmentSize.objects.filter(segment=segment)}


@pytest.mark.django_db
def test_the_backfill_gives_each_past_day_its_size_as_of_the_day_end(store, settings):
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=41, persons=80)
    store_world(store, world)
    segment = services.segment_create(project=project, name="mixed", definition=DEFINITION)
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    services.segment_refresh(segment=segment)  # today's size, recorded; materialised
    segment.refresh_from_db()
    recorded_today = _history(segment)[TODAY]

    assert history.segment_history_backfill(segment=segment, today=TODAY) == 89
    rows = _history(segment)
    assert rows[TODAY] == recorded_today
    assert not rows[TODAY].backfilled
    first_event = min(row["timestamp"] for row in world.events)
    sizes = []
    for day in history_days(TODAY)[:-1]:
        want = len(expected(DEFINITION, _as_of(world, day)))
        assert rows[day].size == want, day
        assert rows[day].backfilled
        if history.day_end(day) <= first_event:
            assert want == 0
        sizes.append(want)
    assert len(set(sizes)) > 5  # the days differ: the check is not of one constant
    assert history.segment_history_backfill(segment=segment, today=TODAY) == 0  # nothing left


@pytest.mark.django_db
def test_a_nested_segment_is_read_as_of_the_day_not_from_its_materialised_members(store, settings):
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=42, persons=50)
    store_world(store, world)
    recent = {"op": "and", "conditions": [{"kind": "behavioral", "event": None, "count": 1, "within_days": 3}]}
    inner = services.segment_create(project=project, name="recent", definition=recent)
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    services.segment_refresh(segment=inner)
    outer_definition = {"op": "and", "conditions": [{"kind": "segment", "segment": inner.id, "negate": True}]}
    outer = services.segment_create(project=project, name="not recent", definition=outer_definition)

    history.segment_history_backfill(segment=outer, today=TODAY)
    rows = _history(outer)
    for day in (TODAY - timedelta(days=1), TODAY - timedelta(days=20), TODAY - timedelta(days=60)):
        past = _as_of(world, day)
        want = past.event_persons() - expected(recent, past)
        assert rows[day].size == len(want), day


@pytest.mark.django_db
def test_the_backfill_keeps_recorded_days_stops_at_its_deadline_and_resumes(store):
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=43, persons=30)
    store_world(store, world)
    segment = services.segment_create(project=project, name="mixed", definition=DEFINITION)
    recorded_day = TODAY - timedelta(days=3)
    SegmentSize.objects.create(segment=segment, day=recorded_day, size=12345, computed_at=NOW)

    assert history.segment_history_backfill(segment=segment, today=TODAY, deadline=time.monotonic()) == 0
    assert history.segment_history_backfill(segment=segment, today=TODAY, deadline=time.monotonic() + 3600) == 88
    row = _history(segment)[recorded_day]
    assert (row.size, row.backfilled) == (12345, False)
    assert history.missing_days(segment, TODAY) == []


@pytest.mark.django_db
def test_a_new_definition_drops_the_old_history_and_a_stale_backfill_saves_nothing(store):
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=44, persons=30)
    store_world(store, world)
    segment = services.segment_create(project=project, name="mixed", definition=DEFINITION)
    history.segment_history_backfill(segment=segment, today=TODAY)
    assert len(_history(segment)) == 89

    stale = type(segment).objects.get(id=segment.id)  # a back-fill that read the old definition
    buyers = {"op": "and", "conditions": [{"kind": "behavioral", "event": "purchase", "count": 1}]}
    services.segment_update(segment=segment, definition=buyers)
    assert _history(segment) == {}
    assert history.segment_history_backfill(segment=stale, today=TODAY) == 0
    assert _history(segment) == {}

    segment.refresh_from_db()
    assert history.segment_history_backfill(segment=segment, today=TODAY) == 89
    day = TODAY - timedelta(days=30)
    assert _history(segment)[day].size == len(expected(buyers, _as_of(world, day)))


@pytest.mark.django_db
def test_the_beat_task_fills_dynamic_segments_and_the_api_shows_progress(store, client, settings):
    owner, project = member_with_project()
    client.force_login(owner)
    world = generate(project.id, now=NOW, seed=45, persons=20)
    store_world(store, world)
    dynamic = services.segment_create(project=project, name="mixed", definition=DEFINITION)
    static = services.segment_create_static(project=project, name="list", distinct_ids=["user-1"])
    sizes_url = f"/api/v1/projects/{project.id}/segments/{dynamic.id}/sizes"
    assert client.get(sizes_url).json()["missing_days"] == 89

    settings.SEGMENT_HISTORY_BUDGET_SECONDS = 0
    assert history.segments_history_backfill_due() == {"segments": 0, "days": 0, "failed": 0}
    settings.SEGMENT_HISTORY_BUDGET_SECONDS = 600
    assert segments_history_backfill.delay().get() == {"segments": 1, "days": 89, "failed": 0}
    answer = client.get(sizes_url).json()
    assert answer["missing_days"] == 0
    assert all(point["backfilled"] for point in answer["points"][:-1])
    assert answer["points"][-1]["size"] is None  # today belongs to the refresh
    assert not SegmentSize.objects.filter(segment=static, backfilled=True).exists()
    assert history.segments_history_backfill_due() == {"segments": 0, "days": 0, "failed": 0}
