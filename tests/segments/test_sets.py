"""Loaded sets: a materialised segment as a filter reads its version's Set table.

The answers must be those of the query-time path and of the subquery over the version's
rows; versions swap, retired sets kept until the grace period has passed (readers during
refreshes: test_materialise's concurrency test counts each version's set); forgetting a
person takes them out of the sets; a missing set falls back to the subquery; cluster mode
never builds one. A set holds the members' ``person_key`` unless a non-member shares a
member's key (a collision forced by hand), and then their UUIDs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from analytics.query.compiler.params import Params
from analytics.segments import queries, services, sets
from analytics.segments.lookup import SegmentLookup, segment_lookup
from analytics.segments.models import RetiredMembership, Segment
from analytics.segments.selectors import resolve_segment
from analytics.warehouse.backup import store_row_counts, store_tables
from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore
from tests.factories import member_with_project
from tests.segments.helpers import BUYERS, after_grace, expected, generate, member_versions, set_names, store_world

NOW = datetime.now(UTC).replace(microsecond=0)
DEFINITION = BUYERS


@dataclass
class Forgotten:
    project_id: int
    distinct_ids: list[str]
    person_ids: list[str]


def _buyers(store: Any, settings: Any, *, seed: int, persons: int = 60) -> tuple[Any, Any, Segment]:
    """A project with generated persons and events, and its buyers segment (materialised at
    the first refresh: the threshold is 1)."""
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    _, project = member_with_project()
    world = generate(project.id, now=NOW, seed=seed, persons=persons)
    store_world(store, world)
    return project, world, services.segment_create(project=project, name="buyers", definition=DEFINITION)


def _operand(segment: Segment) -> str:
    """What a filter compares its person column with: a set's name or ``(<members' SQL>)``."""
    _, members = resolve_segment(
        project_id=segment.project_id, segment_id=segment.id, params=Params(project_id=segment.project_id)
    )
    return members


def _set_column(store: Any, project_id: int, name: str) -> str:
    return str(store.query(queries.set_column_query(project_id=project_id, name=name)).scalar())


def _lookup(segment: Segment, store: Any) -> SegmentLookup:
    return segment_lookup(project_id=segment.project_id, segment_id=segment.id, store=store)


def _set_names(store: Any, segment: Segment) -> list[str]:
    rows = store.query(queries.sets_query(project_id=segment.project_id, segment_id=segment.id)).rows()
    return [row[0] for row in rows]


def _in_set(store: Any, project_id: int, name: str) -> set[str]:
    """The persons with events that the set holds (every member has events), compared by the
    set's own column as the filters do."""
    column = _set_column(store, project_id, name)
    rows = store.query(
        Query(
            name="test.in_set",
            sql="SELECT DISTINCT toString(person_id) FROM events WHERE project_id = {project_id:UInt64}"
            f" AND {column} IN {name}",
            params={"project_id": project_id},
        )
    ).rows()
    return {row[0] for row in rows}


def _trends(client: Any, project: Any, segment_id: int) -> list[Any]:
    """The segment filter (in, not in) over plain events, and beside a session condition: the
    rows of the session cut then carry the column the set is compared with."""
    answers = []
    session = {"type": "session", "key": "pageviews", "operator": "gte", "value": 1}
    for operator, extra in (("in", []), ("not_in", []), ("in", [session])):
        body = {
            "series": [{"event": "pageview", "math": "total"}, {"event": None, "math": "unique_users"}],
            "interval": "day",
            "from": "-30d",
            "filters": [{"type": "segment", "key": "id", "operator": operator, "value": segment_id}, *extra],
        }
        response = client.post(
            f"/api/v1/projects/{project.id}/insights/trends?refresh=1", body, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        answers.append(
            [(line["total"], [point["value"] for point in line["points"]]) for line in response.json()["series"]]
        )
    return answers


@pytest.mark.django_db
def test_a_materialised_filter_reads_the_set_and_answers_as_the_other_paths(store, client, settings):
    owner, project = member_with_project()
    client.force_login(owner)
    world = generate(project.id, now=NOW, seed=21)
    store_world(store, world)
    segment = services.segment_create(project=project, name="buyers", definition=DEFINITION)
    query_time = _trends(client, project, segment.id)
    assert _operand(segment).startswith("(SELECT")

    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    services.segment_refresh(segment=segment)
    segment.refresh_from_db()
    name = queries.set_name(project_id=project.id, segment_id=segment.id, version=segment.members_version)
    assert _operand(segment) == name
    assert _set_column(store, project.id, name) == "person_key"  # no collision: the set of keys
    assert _in_set(store, project.id, name) == expected(segment.definition, world)
    assert _trends(client, project, segment.id) == query_time

    # The subquery over the version's rows (the set gone) answers the same. Dropped by
    # hand, behind the services' back: the cached lookup still names the set, so the
    # report is a 503 "retry" once (test_lookup), and the retry reads the rows.
    store.command(queries.drop_set_statement(name))
    assert _operand(segment) == name
    body = {
        "series": [{"event": "pageview", "math": "total"}],
        "from": "-30d",
        "filters": [{"type": "segment", "key": "id", "operator": "in", "value": segment.id}],
    }
    url = f"/api/v1/projects/{project.id}/insights/trends?refresh=1"
    assert client.post(url, body, content_type="application/json").status_code == 503
    assert _operand(segment).startswith("(SELECT person_id FROM segment_members")
    assert _trends(client, project, segment.id) == query_time


@pytest.mark.django_db
def test_versions_swap_and_retired_sets_go_after_the_grace_period(store, settings):
    project, world, segment = _buyers(store, settings, seed=7)
    for _ in range(3):
        services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    current = segment.members_version
    assert current == 3

    segment_id = segment.id  # the instance loses it when deleted

    def named(*versions: int) -> list[str]:
        return [queries.set_name(project_id=project.id, segment_id=segment_id, version=version) for version in versions]

    assert _set_names(store, segment) == named(1, 2, 3)  # 1 and 2 retired, kept for readers
    assert _in_set(store, project.id, _operand(segment)) == expected(segment.definition, world)
    services.retired_drop(store=store, now=after_grace())
    assert _set_names(store, segment) == named(3)

    # Back to query time: the retired version's set stays for readers that took it just
    # before, refreshes or not, until the grace period has passed; a delete likewise.
    settings.SEGMENT_MATERIALISE_THRESHOLD = 10**6
    services.segment_refresh(segment=segment, now=NOW)
    assert _operand(segment).startswith("(SELECT")  # not materialised: compiled at query time
    services.segment_refresh(segment=segment, now=NOW)
    assert _set_names(store, segment) == named(3)
    services.retired_drop(store=store, now=after_grace())
    assert _set_names(store, segment) == []
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    services.segment_refresh(segment=segment, now=NOW)
    assert _set_names(store, segment) == named(4)
    services.segment_delete(segment=segment)
    assert set_names(store, project.id, segment_id) == named(4)
    services.retired_drop(store=store, now=after_grace())
    assert set_names(store, project.id, segment_id) == []


@pytest.mark.django_db
def test_a_forgotten_person_leaves_the_sets(store, settings):
    project, world, segment = _buyers(store, settings, seed=19, persons=30)
    services.segment_refresh(segment=segment, now=NOW)
    services.segment_refresh(segment=segment, now=NOW)  # two versions, two sets
    names = _set_names(store, segment)
    assert len(names) == 2
    before = expected(segment.definition, world)
    person = sorted(before)[0]
    distinct_id = next(row["distinct_id"] for row in world.events if row["person_id"] == person)

    assert services.segment_memberships_forget(Forgotten(project.id, [distinct_id], [person])) >= 2

    assert _set_names(store, segment) == names  # rebuilt in place, none missing or left over
    for name in names:
        assert _in_set(store, project.id, name) == before - {person}


@pytest.mark.django_db
def test_a_missing_set_falls_back_to_the_subquery_and_the_next_refresh_builds_one(store, settings):
    project, world, segment = _buyers(store, settings, seed=3)
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    for name in _set_names(store, segment):
        store.command(queries.drop_set_statement(name))  # e.g. a backup restored without it

    assert _operand(segment).startswith("(SELECT person_id FROM segment_members")
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    name = _operand(segment)
    assert name == queries.set_name(project_id=project.id, segment_id=segment.id, version=segment.members_version)
    assert _in_set(store, project.id, name) == expected(segment.definition, world)


@pytest.mark.django_db
def test_cluster_mode_builds_no_set_and_keeps_the_subquery(store, settings):
    """A Set table lives on one server; a Distributed query would need it on every shard."""
    project, _, segment = _buyers(store, settings, seed=5)
    cluster = EventStore(store.transport, cluster="analytics")
    assert not sets.sets_enabled(cluster)
    assert sets.sets_enabled(store)

    services.segment_materialise(segment=segment, store=cluster, now=NOW)
    segment.refresh_from_db()
    assert segment.is_materialised
    assert _set_names(store, segment) == []
    assert _lookup(segment, cluster).set_name is None

    services.segment_materialise(segment=segment, store=store, now=NOW)
    segment.refresh_from_db()
    name = _lookup(segment, store).set_name
    assert name == queries.set_name(project_id=project.id, segment_id=segment.id, version=segment.members_version)
    assert _lookup(segment, cluster).set_name is None


@pytest.mark.django_db
def test_a_backup_leaves_the_sets_out(store, settings):
    """A Set cannot be read back; the restored segment reads its rows until the next refresh."""
    _, _, segment = _buyers(store, settings, seed=9)
    services.segment_refresh(segment=segment, now=NOW)
    assert _set_names(store, segment)

    names = {name for name, _, _ in store_tables(store)}
    assert "segment_members" in names
    assert not {name for name in names if name.startswith("segment_set_")}
    assert store_row_counts(store)["segment_members"] > 0


def _force_key(store: Any, person: str, key_of: str) -> None:
    """New events of ``person`` get the ``person_key`` of ``key_of``: a 64-bit collision,
    which no search would find, made by changing the column's expression for one insert."""
    forced = queries.PERSON_KEY_SQL.replace("person_id", f"toUUID('{key_of}')")
    store.command(
        "ALTER TABLE events MODIFY COLUMN person_key UInt64 MATERIALIZED"
        f" if(person_id = toUUID('{person}'), {forced}, {queries.PERSON_KEY_SQL}) CODEC(NONE)"
    )


def _restore_key(store: Any) -> None:
    store.command(
        f"ALTER TABLE events MODIFY COLUMN person_key UInt64 MATERIALIZED {queries.PERSON_KEY_SQL} CODEC(NONE)"
    )


@pytest.mark.django_db
def test_a_non_member_sharing_a_members_key_makes_the_set_hold_uuids(store, client, settings):
    owner, project = member_with_project()
    client.force_login(owner)
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    world = generate(project.id, now=NOW, seed=29)
    store_world(store, world)
    segment = services.segment_create(project=project, name="buyers", definition=DEFINITION)
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    members = expected(segment.definition, world)
    assert _set_column(store, project.id, _operand(segment)) == "person_key"

    # A new person, not a member (page views only), whose events carry a member's key.
    member = sorted(members)[0]
    stranger = str(uuid.uuid4())
    template = next(row for row in world.events if row["event"] == "pageview")
    visit = {**template, "event_id": str(uuid.uuid4()), "person_id": stranger, "distinct_id": "stranger"}
    _force_key(store, stranger, member)
    try:
        store.insert_events([visit], dedup_token=f"segments-stranger-{uuid.uuid4()}")
    finally:
        _restore_key(store)
    keys = queries.set_name(project_id=project.id, segment_id=segment.id, version=segment.members_version)
    collided = store.query(
        Query(
            name="test.collided",
            sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}"
            f" AND person_id = toUUID('{stranger}') AND person_key IN {keys}",
            params={"project_id": project.id},
        )
    ).scalar()
    assert collided == 1  # the set of keys would count the stranger's page view

    services.segment_refresh(segment=segment, now=NOW)  # the check sees the collision
    segment.refresh_from_db()
    name = _operand(segment)
    assert name == queries.set_name(project_id=project.id, segment_id=segment.id, version=segment.members_version)
    assert _set_column(store, project.id, name) == "person_id"
    assert _in_set(store, project.id, name) == members  # the stranger is not in
    # The subquery over the version's rows answers the same (the set dropped by hand: the
    # cached lookup still names it, so one report is a 503 "retry", then the rows are read).
    through_set = _trends(client, project, segment.id)
    store.command(queries.drop_set_statement(name))
    body = {
        "series": [{"event": "pageview", "math": "total"}],
        "from": "-30d",
        "filters": [{"type": "segment", "key": "id", "operator": "in", "value": segment.id}],
    }
    url = f"/api/v1/projects/{project.id}/insights/trends?refresh=1"
    assert client.post(url, body, content_type="application/json").status_code == 503
    assert _operand(segment).startswith("(SELECT person_id FROM segment_members")
    assert _trends(client, project, segment.id) == through_set


@pytest.mark.django_db
def test_deleting_the_project_retires_its_segments_sets_and_rows(store, settings):
    project, _world, segment = _buyers(store, settings, seed=23, persons=30)
    services.segment_refresh(segment=segment, now=NOW)
    static = services.segment_create_static(project=project, name="list", distinct_ids=["user-1"])
    project_id, segment_id, static_id = project.id, segment.id, static.id
    assert set_names(store, project_id, segment_id)

    project.delete()  # the cascade takes the segments without segment_delete

    retired = RetiredMembership.objects.filter(below__isnull=True)
    assert {(entry.segment_id, entry.is_static) for entry in retired} == {(segment_id, False), (static_id, True)}
    assert set_names(store, project_id, segment_id)  # kept for readers through the grace period
    services.retired_drop(store=store, now=after_grace())
    assert set_names(store, project_id, segment_id) == []
    assert member_versions(store, project_id, segment_id, settle=set()) == set()
    assert not RetiredMembership.objects.exists()


@pytest.mark.django_db
def test_segment_delete_retires_once(store, settings):
    _project, _world, segment = _buyers(store, settings, seed=24, persons=10)
    segment_id = segment.id
    services.segment_delete(segment=segment)
    assert RetiredMembership.objects.filter(segment_id=segment_id).count() == 1
