"""One cached lookup per segment filter, and the races between a lookup and its query.

A warm segment-filtered report reads neither the segment row (PostgreSQL) nor asks
ClickHouse whether the set exists; a refresh, a forget or a delete is seen at once (the
segments version changes). A set dropped, or a segment deleted, after the lookup and
before the query ran is provoked for real here: the report runs again with a fresh lookup
and answers normally, or answers 400 "segment N no longer exists".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from analytics.funnels.runner import run_funnel
from analytics.funnels.serializers import FunnelQuerySerializer
from analytics.query.compiler.params import Params
from analytics.query.membership import SegmentMissing, segment_membership_sql
from analytics.query.runner import run_trends
from analytics.query.serializers import TrendsQuerySerializer
from analytics.segments import queries, services, sets
from analytics.segments.models import Segment
from analytics.segments.selectors import resolve_segment
from analytics.warehouse import metrics
from analytics.warehouse.errors import UnscopedQueryError
from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore
from tests.factories import UserFactory, member_with_project
from tests.segments.helpers import BUYERS, generate, store_world

NOW = datetime.now(UTC).replace(microsecond=0)


def _materialised(store: Any, settings: Any, *, seed: int) -> tuple[Any, Any, Segment]:
    settings.SEGMENT_MATERIALISE_THRESHOLD = 1
    owner, project = member_with_project()
    store_world(store, generate(project.id, now=NOW, seed=seed))
    segment = services.segment_create(project=project, name="buyers", definition=BUYERS)
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    assert segment.is_materialised
    return owner, project, segment


def _body(segment_id: int, operator: str = "in") -> dict[str, Any]:
    return {
        "series": [{"event": "pageview", "math": "total"}, {"event": None, "math": "unique_users"}],
        "interval": "day",
        "from": "-30d",
        "filters": [{"type": "segment", "key": "id", "operator": operator, "value": segment_id}],
    }


def _post(client: Any, project: Any, segment_id: int) -> Any:
    return client.post(
        f"/api/v1/projects/{project.id}/insights/trends?refresh=1", _body(segment_id), content_type="application/json"
    )


def _series(response: Any) -> list[Any]:
    assert response.status_code == 200, response.content
    return [(line["total"], [point["value"] for point in line["points"]]) for line in response.json()["series"]]


def _trends(project: Any, segment_id: int, store: EventStore | None = None) -> list[Any]:
    serializer = TrendsQuerySerializer(data=_body(segment_id), context={"time_zone": "UTC", "now": NOW})
    serializer.is_valid(raise_exception=True)
    answer = run_trends(project_id=project.id, query=serializer.validated_data["query"], store=store)
    return [(line["total"], [point["value"] for point in line["points"]]) for line in answer["series"]]


def _store_queries(name: str) -> float:
    """How many queries of this name the store has run in this process (its histogram's count)."""
    total = 0.0
    for family in metrics.STORE_QUERY_SECONDS.collect():
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("query") == name:
                total += sample.value
    return total


def _segment_reads(captured: CaptureQueriesContext) -> int:
    return sum(1 for query in captured.captured_queries if '"segments_segment"' in query["sql"])


def _operand(segment: Segment) -> str:
    """What a filter compares its person column with: a set's name or ``(<members' SQL>)``."""
    _, members = resolve_segment(
        project_id=segment.project_id, segment_id=segment.id, params=Params(project_id=segment.project_id)
    )
    return members


class RacingStore(EventStore):
    """The test's event store (same transport), which runs ``race`` once, just before the
    first query whose SQL names ``trigger``: what another process does between a report's
    lookup and its query. Every query then runs for real; ``sql`` records them."""

    def __init__(self, store: EventStore, trigger: str, race: Callable[[], None]) -> None:
        super().__init__(store.transport)
        self.trigger, self.race = trigger, race
        self.sql: list[str] = []
        self.raced = False

    def query(self, query: Query) -> Any:
        if not self.raced and self.trigger in query.sql:
            self.raced = True
            self.race()
        self.sql.append(query.sql)
        return super().query(query)


@pytest.mark.django_db
def test_a_warm_filtered_report_reads_no_segment_row_and_asks_no_set_existence(store, client, settings):
    owner, project, segment = _materialised(store, settings, seed=31)
    client.force_login(owner)
    first = _series(_post(client, project, segment.id))  # looks the segment up and keeps it

    exists_before = _store_queries("segments.set_column")
    with CaptureQueriesContext(connection) as captured:
        again = _series(_post(client, project, segment.id))
    assert again == first
    assert _segment_reads(captured) == 0
    assert _store_queries("segments.set_column") == exists_before

    # A refresh flips the version (and drops none of the sets a reader may hold): the next
    # report looks up again, once, and names the new version's set.
    services.segment_refresh(segment=segment, now=NOW)
    segment.refresh_from_db()
    with CaptureQueriesContext(connection) as captured:
        assert _series(_post(client, project, segment.id)) == first
    assert _segment_reads(captured) == 1
    assert _store_queries("segments.set_column") == exists_before + 1
    assert _operand(segment) == queries.set_name(
        project_id=project.id, segment_id=segment.id, version=segment.members_version
    )


@pytest.mark.django_db
def test_a_delete_is_seen_at_once_through_the_cache(store, client, settings):
    owner, project, segment = _materialised(store, settings, seed=32)
    client.force_login(owner)
    _series(_post(client, project, segment.id))
    segment_id = segment.id
    services.segment_delete(segment=segment)
    with CaptureQueriesContext(connection) as captured:
        response = _post(client, project, segment_id)
    assert response.status_code == 400
    assert f"segment {segment_id} no longer exists" in response.content.decode()
    assert _segment_reads(captured) == 1  # not answered from the cached lookup


@pytest.mark.django_db
def test_a_set_dropped_by_two_refreshes_between_lookup_and_query_is_retried(store, settings):
    _, project, segment = _materialised(store, settings, seed=33)
    before = _trends(project, segment.id)
    old = _operand(segment)
    assert old.startswith("segment_set_")

    def two_refreshes() -> None:  # the second one drops the version the report looked up
        services.segment_refresh(segment=Segment.objects.get(id=segment.id), store=store, now=NOW)
        services.segment_refresh(segment=Segment.objects.get(id=segment.id), store=store, now=NOW)
        assert not store.query(queries.set_exists_query(project_id=project.id, name=old)).scalar()

    racing = RacingStore(store, old, two_refreshes)
    assert _trends(project, segment.id, store=racing) == before
    segment.refresh_from_db()
    current = queries.set_name(project_id=project.id, segment_id=segment.id, version=segment.members_version)
    assert racing.raced
    assert [sql for sql in racing.sql if old in sql]  # the first attempt named the dropped set
    assert [sql for sql in racing.sql if current in sql]  # the retry named the current one


@pytest.mark.django_db
def test_a_segment_deleted_between_lookup_and_query_is_a_400(store, client, settings):
    """segment_delete's own steps, with the report in the window between dropping the sets
    and announcing the change (the cached lookup still names the set)."""
    owner, project, segment = _materialised(store, settings, seed=34)
    client.force_login(owner)
    _series(_post(client, project, segment.id))
    segment_id, name = segment.id, _operand(segment)
    Segment.objects.filter(id=segment_id).delete()
    store.execute(queries.delete_versions_statement(project_id=project.id, segment_id=segment_id))
    sets.sets_drop(store, segment_id, project.id)

    response = _post(client, project, segment_id)
    assert response.status_code == 400, response.content
    assert f"segment {segment_id} no longer exists" in response.content.decode()
    assert not store.query(queries.set_exists_query(project_id=project.id, name=name)).scalar()


@pytest.mark.django_db
def test_a_segment_deleted_while_the_report_runs_is_refused(store, settings):
    _, project, segment = _materialised(store, settings, seed=35)
    segment_id = segment.id
    racing = RacingStore(store, _operand(segment), lambda: services.segment_delete(segment=segment, store=store))
    with pytest.raises(SegmentMissing, match=f"segment {segment_id} no longer exists"):
        _trends(project, segment_id, store=racing)
    assert racing.raced


@pytest.mark.django_db
def test_a_funnel_reads_through_a_dropped_set_once_again(store, settings):
    _, project, segment = _materialised(store, settings, seed=36)
    body = {
        "steps": [{"event": "pageview"}, {"event": "purchase"}],
        "window_seconds": 30 * 86400,
        "from": "-60d",
        "segment": {"type": "segment", "key": "id", "operator": "in", "value": segment.id},
    }
    serializer = FunnelQuerySerializer(data=body, context={"time_zone": "UTC", "now": NOW})
    assert serializer.is_valid(), serializer.errors
    query = serializer.validated_data["query"]
    before = run_funnel(project_id=project.id, query=query)["steps"]
    assert before[0]["count"] > 0

    racing = RacingStore(store, _operand(segment), lambda: sets.sets_drop(store, segment.id, project.id))
    assert run_funnel(project_id=project.id, query=query, store=racing)["steps"] == before
    assert racing.raced
    assert _operand(segment).startswith("(SELECT person_id FROM segment_members")  # the fresh lookup


@pytest.mark.django_db
def test_a_cached_lookup_is_never_another_projects(store, client, settings):
    owner, project, segment = _materialised(store, settings, seed=37)
    client.force_login(owner)
    _series(_post(client, project, segment.id))
    stranger, other = member_with_project()
    client.force_login(stranger)

    response = _post(client, other, segment.id)  # the same segment id, from another project
    assert response.status_code == 400
    assert f"segment {segment.id} no longer exists" in response.content.decode()
    with pytest.raises(SegmentMissing):
        segment_membership_sql(project_id=other.id, segment_id=segment.id, params=Params(project_id=other.id))
    # and a set name of the first project is refused for the other one's query
    name = _operand(segment)
    with pytest.raises(UnscopedQueryError, match="another project's segment set"):
        store.query(
            Query(
                name="test.stolen_set",
                sql=f"SELECT count() FROM events WHERE project_id = {{project_id:UInt64}} AND person_id IN {name}",
                params={"project_id": other.id},
            )
        )


@pytest.mark.django_db
def test_a_segment_deleted_in_the_admin_is_gone_for_reports_and_clickhouse(store, client, settings):
    owner, project, segment = _materialised(store, settings, seed=38)
    client.force_login(owner)
    _series(_post(client, project, segment.id))  # a cached lookup names the set
    name = _operand(segment)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(f"/admin/segments/segment/{segment.id}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:500]

    assert not Segment.objects.filter(id=segment.id).exists()
    assert not store.query(queries.set_exists_query(project_id=project.id, name=name)).scalar()
    with pytest.raises(SegmentMissing):
        _operand(segment)  # the segments version moved: not answered from the cache
