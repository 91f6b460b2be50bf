"""Materialisation: the same members as query time, atomic swaps under ingestion, the schedule."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django_celery_beat.models import PeriodicTask

from analytics.privacy import services as privacy
from analytics.query.membership import SegmentMissing
from analytics.segments import queries, services, tasks
from analytics.segments.models import RetiredMembership, Segment, SegmentSize
from analytics.segments.selectors import segment_size
from analytics.warehouse.guard import Query
from analytics.warehouse.identity import person_id_for
from analytics.warehouse.store import EventStore
from tests.factories import member_with_project
from tests.segments.helpers import (
    after_grace,
    expected,
    generate,
    member_versions,
    members,
    new_persons_events,
    set_names,
    store_world,
)
from tests.warehouse.helpers import event_row

NOW = datetime.now(UTC).replace(microsecond=0)
DEFINITIONS = [
    {"op": "and", "conditions": [{"kind": "behavioral", "event": "pageview", "count": 3, "within_days": 60}]},
    {
        "op": "or",
        "conditions": [
            {"kind": "behavioral", "behavior": "last_seen", "more_than_days": 20},
            {
                "op": "and",
                "conditions": [
                    {"kind": "person", "key": "plan", "operator": "in", "value": ["pro", "free"]},
                    {"kind": "behavioral", "behavior": "not_performed", "event": "purchase", "within_days": 30},
                ],
            },
        ],
    },
]


@pytest.mark.django_db
@pytest.mark.parametrize("definition", DEFINITIONS, ids=["pageviews", "nested"])
def test_materialised_and_query_time_members_are_the_same(store, settings, definition):
    settings.SEGMENT_MATERIALISE_THRESHOLD = 5
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=5)
    store_world(store, world)
    segment = services.segment_create(project=project, name="m", definition=definition)
    want = expected(segment.definition, world)
    assert len(want) > 5

    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert segment.is_materialised
    assert segment.size == len(want)
    assert members(store, project.id, segment.id, now=NOW) == want  # reads segment_members
    assert members(store, project.id, segment.id, now=NOW, force_query_time=True) == want
    answer = segment_size(segment=segment)
    assert answer == {"size": len(want), "computed_at": NOW, "materialised": True}

    # a segment built on the materialised one reads its table and agrees with the reference
    outer = services.segment_create(
        project=project, name="o", definition={"op": "and", "conditions": [{"kind": "segment", "segment": segment.id}]}
    )
    assert members(store, project.id, outer.id, now=NOW) == want

    # a second refresh swaps in a new version and retires the first (kept for the grace period)
    first_version = segment.members_version
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert segment.members_version is not None
    assert first_version is not None
    assert segment.members_version > first_version
    assert members(store, project.id, segment.id, now=NOW) == want
    assert member_versions(store, project.id, segment.id) == {first_version, segment.members_version}


@pytest.mark.django_db
def test_small_segments_stay_at_query_time_and_shrinking_ones_return_to_it(store, settings):
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=9, persons=20)
    store_world(store, world)
    segment = services.segment_create(project=project, name="all", definition=DEFINITIONS[0])
    size = len(expected(segment.definition, world))

    settings.SEGMENT_MATERIALISE_THRESHOLD = size  # not above: stays at query time
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert not segment.is_materialised
    assert segment.size == size

    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert segment.is_materialised

    settings.SEGMENT_MATERIALISE_THRESHOLD = 10_000
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert not segment.is_materialised
    assert members(store, project.id, segment.id, now=NOW) == expected(segment.definition, world)
    assert SegmentSize.objects.get(segment=segment, day=NOW.date()).size == size


@pytest.mark.django_db(transaction=True)
def test_refresh_under_concurrent_ingestion_never_exposes_a_partial_membership(store, settings):
    """Readers take (version, size) from the segment row and count that version's rows and
    the persons its loaded set holds (the filters' path): always the size, while events of
    new members arrive and refreshes swap versions."""
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    _, project = member_with_project()
    definition = {"op": "and", "conditions": [{"kind": "behavioral", "event": "pageview", "count": 1}]}
    segment = services.segment_create(project=project, name="viewers", definition=definition)

    def batch(start: int, count: int) -> list[dict[str, Any]]:
        return new_persons_events(project.id, start, count, NOW - timedelta(minutes=5))

    store.insert_events(batch(0, 3000), dedup_token=f"seg-concurrent-{project.id}-0")
    services.segment_refresh(segment=segment)
    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def ingest() -> None:
        next_id = 3000
        while not stop.is_set():
            store.insert_events(batch(next_id, 500), dedup_token=f"seg-concurrent-{project.id}-{next_id}")
            next_id += 500

    def read() -> None:
        try:
            while not stop.is_set():
                version, size = Segment.objects.values_list("members_version", "size").get(id=segment.id)
                counted = store.query(
                    queries.version_size_query(project_id=project.id, segment_id=segment.id, version=version)
                ).scalar()
                name = queries.set_name(project_id=project.id, segment_id=segment.id, version=version)
                column = store.query(queries.set_column_query(project_id=project.id, name=name)).scalar()
                in_set = store.query(
                    Query(
                        name="test.set_count",
                        sql="SELECT uniqExact(person_id) FROM events WHERE project_id = {project_id:UInt64}"
                        f" AND {column} IN {name}",
                        params={"project_id": project.id},
                    )
                ).scalar()
                reads[0] += 1
                if counted != size or in_set != size:
                    problems.append(f"version {version}: {counted} rows, {in_set} in its set, size {size}")
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    try:
        sizes = []
        for _ in range(4):
            services.segment_refresh(segment=segment)
            segment.refresh_from_db()
            sizes.append(segment.size)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert not problems, problems[:3]
    assert reads[0] > 0
    assert sizes == sorted(sizes)
    assert sizes[-1] > 3000  # the refreshes saw the new events


@pytest.mark.django_db
def test_the_scheduled_task_refreshes_due_segments_and_records_errors(store, settings):
    settings.SEGMENT_MATERIALISE_THRESHOLD = 10_000
    assert PeriodicTask.objects.filter(task="analytics.segments.tasks.segments_refresh", enabled=True).exists()
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=3, persons=10)
    store_world(store, world)
    inner = services.segment_create(project=project, name="inner", definition=DEFINITIONS[0])
    outer = services.segment_create(
        project=project,
        name="outer",
        definition={"op": "and", "conditions": [{"kind": "segment", "segment": inner.id}]},
    )
    fresh = services.segment_create(project=project, name="fresh", definition=DEFINITIONS[0])
    Segment.objects.filter(id=fresh.id).update(refreshed_at=datetime.now(UTC))
    Segment.objects.filter(id=inner.id).delete()  # outer now refers to a segment that is gone

    result = tasks.segments_refresh()

    assert result["failed"] == 1
    outer.refresh_from_db()
    fresh.refresh_from_db()
    assert "segment" in outer.last_error
    assert "no longer exists" in outer.last_error
    assert outer.refreshed_at is not None
    assert fresh.size is None  # not due: refreshed within its interval


@pytest.mark.django_db
def test_an_edited_definition_is_used_at_once_and_its_old_rows_go_after_the_grace_period(store, settings):
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=13, persons=30)
    store_world(store, world)
    segment = services.segment_create(project=project, name="e", definition=DEFINITIONS[0])
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert segment.is_materialised

    narrow = {"op": "and", "conditions": [{"kind": "behavioral", "event": "signup", "count": 2, "within_days": 30}]}
    services.segment_update(segment=segment, definition=narrow)
    segment.refresh_from_db()
    assert not segment.is_materialised
    assert members(store, project.id, segment.id, now=NOW) == expected(segment.definition, world)

    # A refresh at query time leaves the retired version to the clean-up, which drops it
    # once the grace period has passed (a report may have named it just before the edit).
    settings.SEGMENT_MATERIALISE_THRESHOLD = 10_000
    services.segment_refresh(segment=segment, now=NOW)
    assert member_versions(store, project.id, segment.id) == {1}
    assert len(set_names(store, project.id, segment.id)) == 1
    services.retired_drop(store=store, now=after_grace())
    assert member_versions(store, project.id, segment.id, settle=set()) == set()
    assert set_names(store, project.id, segment.id) == []


@pytest.mark.django_db
def test_retired_memberships_are_dropped_by_a_scheduled_task(store, settings):
    """Leftovers with no retirement (rows from before retirements existed) are retired by
    the next refresh; a segment being refreshed is left to a later run."""
    assert PeriodicTask.objects.filter(task="analytics.segments.tasks.segments_retired_drop", enabled=True).exists()
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    _, project = member_with_project()
    store_world(store, generate(project.id, now=NOW, seed=23, persons=20))
    segment = services.segment_create(project=project, name="r", definition=DEFINITIONS[0])
    services.segment_refresh(segment=segment, now=NOW)
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert member_versions(store, project.id, segment.id) == {1, 2}

    settings.SEGMENT_SET_GRACE_SECONDS = 0
    Segment.objects.filter(id=segment.id).update(refreshing_since=datetime.now(UTC))
    assert tasks.segments_retired_drop() == {"dropped": 0, "failed": 0, "skipped": 1}
    assert member_versions(store, project.id, segment.id) == {1, 2}
    Segment.objects.filter(id=segment.id).update(refreshing_since=None)
    assert tasks.segments_retired_drop() == {"dropped": 1, "failed": 0, "skipped": 0}
    assert member_versions(store, project.id, segment.id, settle={2}) == {2}
    assert set_names(store, project.id, segment.id) == [
        queries.set_name(project_id=project.id, segment_id=segment.id, version=2)
    ]

    # back to query time by hand, as an older release's edit left it: rows and a set, no retirement
    Segment.objects.filter(id=segment.id).update(members_version=None)
    settings.SEGMENT_MATERIALISE_THRESHOLD = 10_000
    services.segment_refresh(segment=segment, now=NOW)
    assert RetiredMembership.objects.filter(segment_id=segment.id, below=3).exists()
    assert tasks.segments_retired_drop()["dropped"] == 1
    assert member_versions(store, project.id, segment.id, settle=set()) == set()
    assert set_names(store, project.id, segment.id) == []


@pytest.mark.django_db
def test_a_refresh_racing_a_delete_is_segment_missing_and_leaves_nothing(store, settings):
    """The segment is deleted after its new version is written, before the flip: the
    refresh answers SegmentMissing (a 400 in the API, not a 500), records no size, and
    drops the version it wrote (never current: nobody read it)."""
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    _, project = member_with_project()
    store_world(store, generate(project.id, now=NOW, seed=29, persons=20))
    segment = services.segment_create(project=project, name="d", definition=DEFINITIONS[0])
    segment_id = segment.id

    class DeletingStore(EventStore):
        """Deletes the segment when the refresh counts the version it has just written."""

        def query(self, query: Any) -> Any:
            if query.name == "segments.version_size":
                services.segment_delete(segment=Segment.objects.get(id=segment_id))
            return super().query(query)

    with pytest.raises(SegmentMissing):
        services.segment_refresh(segment=segment, store=DeletingStore(store.transport), now=NOW)
    assert not SegmentSize.objects.filter(segment_id=segment_id).exists()
    assert member_versions(store, project.id, segment_id, settle=set()) == set()
    assert set_names(store, project.id, segment_id) == []
    with pytest.raises(SegmentMissing):  # a caller holding the deleted row
        services.segment_refresh(segment=segment, store=store, now=NOW)


@pytest.mark.django_db
def test_the_admin_lists_segments_with_size_state_and_error(admin_client, store):
    _, project = member_with_project()
    segment = services.segment_create(project=project, name="listed", definition=DEFINITIONS[0])
    Segment.objects.filter(id=segment.id).update(size=1234, last_error="StoreUnavailable: down")
    page = admin_client.get("/admin/segments/segment/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "listed" in text
    assert "1234" in text
    assert "StoreUnavailable: down" in text
    assert "0 of 89 past days" in text  # the size history's back-fill has not run
    assert admin_client.get(f"/admin/segments/segment/{segment.id}/change/").status_code == 200


@pytest.mark.django_db
def test_one_refresh_of_a_segment_at_a_time(store, settings):
    """A second refresh leaves the segment to the one holding the lease (whose version it
    could otherwise delete half-written); a lease left by a dead refresh is taken over."""
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    _, project = member_with_project()
    store_world(store, generate(project.id, now=NOW, seed=17, persons=12))
    segment = services.segment_create(project=project, name="l", definition=DEFINITIONS[0])

    Segment.objects.filter(id=segment.id).update(refreshing_since=datetime.now(UTC))
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert segment.size is None
    assert segment.last_version == 0

    Segment.objects.filter(id=segment.id).update(refreshing_since=datetime.now(UTC) - timedelta(minutes=31))
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert segment.is_materialised
    assert segment.refreshing_since is None


@pytest.mark.django_db
def test_a_forgotten_person_leaves_every_membership(store, settings):
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=19, persons=15)
    store_world(store, world)
    dynamic = services.segment_create(project=project, name="d", definition=DEFINITIONS[0])
    services.segment_refresh(segment=dynamic, now=NOW)
    dynamic.refresh_from_db()
    members_before = members(store, project.id, dynamic.id, now=NOW)
    person = sorted(members_before)[0]
    distinct_id = next(row["distinct_id"] for row in world.events if row["person_id"] == person)
    static = services.segment_create_static(project=project, name="s", distinct_ids=[distinct_id, "someone-else"])

    @dataclass
    class Forgotten:
        project_id: int
        distinct_ids: list[str]
        person_ids: list[str]

    removed = services.segment_memberships_forget(Forgotten(project.id, [distinct_id], [person]))

    assert removed >= 2  # the static id and the materialised membership
    assert person not in members(store, project.id, dynamic.id, now=NOW)
    assert members(store, project.id, dynamic.id, now=NOW) == members_before - {person}
    static_rows = store.query(
        Query(
            name="t",
            sql="SELECT distinct_id FROM segment_static_members WHERE project_id = {project_id:UInt64}"
            " AND segment_id = {s:UInt64}",
            params={"project_id": project.id, "s": static.id},
        )
    ).rows()
    assert [row[0] for row in static_rows] == ["someone-else"]
    assert services.segment_memberships_forget(Forgotten(project.id, [distinct_id], [person])) == 0


@pytest.mark.django_db
def test_the_privacy_apps_forgetting_empties_the_memberships(store):
    _, project = member_with_project()
    rows = [
        event_row(project.id, distinct_id=name, person_id=person_id_for(project.id, name), timestamp=NOW)
        for name in ("bob", "ann")
    ]
    store.insert_events(rows, dedup_token=f"seg-forget-{project.id}")
    static = services.segment_create_static(project=project, name="s", distinct_ids=["bob", "ann"])
    assert members(store, project.id, static.id, now=NOW) == {person_id_for(project.id, n) for n in ("bob", "ann")}

    deletion = privacy.deletion_request(project=project, distinct_id="bob", user=None, run=False)
    assert privacy.deletion_execute(deletion_id=str(deletion.id), distinct_id="bob").state == "verified"

    assert members(store, project.id, static.id, now=NOW) == {person_id_for(project.id, "ann")}
