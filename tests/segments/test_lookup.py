"""One cached lookup per segment filter, and the races between a lookup and its query.

A warm segment-filtered report reads neither the segment row (PostgreSQL) nor asks
ClickHouse whether the set exists; a refresh, a forget or a delete is seen at once (the
segments version changes). Refreshes or a delete between a lookup and its query are
provoked for real here: the version the query named is retired, not dropped, so the query
reads it whole; the clean-up drops it once the grace period has passed; a deleted segment
is a 400 "segment N no longer exists" for the next report. A set that is really missing
(dropped by hand) is a 503 "retry", and the retry reads the rows.
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
from analytics.segments import queries, services
from analytics.segments.models import RetiredMembership, Segment
from analytics.segments.selectors import resolve_segment
from analytics.warehouse import metrics
from analytics.warehouse.errors import SegmentSetMissing, StoreQueryError, UnscopedQueryError
from analytics.warehouse.guard import Query
from analytics.warehouse.store import EventStore
from tests.factories import UserFactory, member_with_project
from tests.segments.helpers import BUYERS, after_grace, generate, member_versions, set_names, store_world

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


def _body(segment_id: int, operator: str = "in", *, series: int = 2) -> dict[str, Any]:
    return {
        "series": [{"event": "pageview", "math": "total"}, {"event": None, "math": "unique_users"}][:series],
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


def _trends(project: Any, segment_id: int, store: EventStore | None = None, *, series: int = 2) -> list[Any]:
    serializer = TrendsQuerySerializer(data=_body(segment_id, series=series), context={"time_zone": "UTC", "now": NOW})
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
def test_a_report_that_looked_up_before_two_refreshes_reads_the_old_versions_set(store, settings):
    _, project, segment = _materialised(store, settings, seed=33)
    before = _trends(project, segment.id)
    old = _operand(segment)
    assert old.startswith("segment_set_")

    def two_refreshes() -> None:  # the report's first query named the version they retire
        services.segment_refresh(segment=Segment.objects.get(id=segment.id), store=store, now=NOW)
        services.segment_refresh(segment=Segment.objects.get(id=segment.id), store=store, now=NOW)

    racing = RacingStore(store, old, two_refreshes)
    assert _trends(project, segment.id, store=racing) == before
    assert racing.raced
    segment.refresh_from_db()
    current = queries.set_name(project_id=project.id, segment_id=segment.id, version=segment.members_version)
    assert segment.members_version == 3
    assert sum(old in sql for sql in racing.sql) == 1  # the first series' query, run once, no retry
    assert [sql for sql in racing.sql if current in sql]  # the second series looked up afresh
    assert len(set_names(store, project.id, segment.id)) == 3  # versions 1 and 2 are retired, kept

    # Within the grace period the clean-up leaves them; after it, only the current version
    # is left, and reports read it.
    assert services.retired_drop(store=store) == {"dropped": 0, "failed": 0, "skipped": 0}
    assert len(set_names(store, project.id, segment.id)) == 3
    assert services.retired_drop(store=store, now=after_grace()) == {"dropped": 1, "failed": 0, "skipped": 0}
    assert set_names(store, project.id, segment.id) == [current]
    assert member_versions(store, project.id, segment.id, settle={3}) == {3}
    assert not RetiredMembership.objects.filter(segment_id=segment.id).exists()
    assert _operand(segment) == current
    assert _trends(project, segment.id) == before


@pytest.mark.django_db
def test_a_segment_deleted_while_a_query_reads_it_answers_then_the_next_report_is_a_400(store, client, settings):
    owner, project, segment = _materialised(store, settings, seed=34)
    client.force_login(owner)
    before = _trends(project, segment.id, series=1)
    segment_id, name = segment.id, _operand(segment)

    racing = RacingStore(store, name, lambda: services.segment_delete(segment=Segment.objects.get(id=segment_id)))
    assert _trends(project, segment_id, store=racing, series=1) == before  # its query named the set
    assert racing.raced
    assert not Segment.objects.filter(id=segment_id).exists()

    response = _post(client, project, segment_id)
    assert response.status_code == 400, response.content
    assert f"segment {segment_id} no longer exists" in response.content.decode()
    assert set_names(store, project.id, segment_id) == [name]  # kept for the grace period

    services.retired_drop(store=store, now=after_grace())
    assert set_names(store, project.id, segment_id) == []
    assert member_versions(store, project.id, segment_id, settle=set()) == set()


@pytest.mark.django_db
def test_a_segment_deleted_in_the_middle_of_a_report_refuses_its_later_queries(store, settings):
    """A report of two series: the first query ran on the set it looked up, the second
    looks the segment up again (the segments version moved) and finds it gone."""
    _, project, segment = _materialised(store, settings, seed=35)
    segment_id = segment.id
    racing = RacingStore(store, _operand(segment), lambda: services.segment_delete(segment=segment))
    with pytest.raises(SegmentMissing, match=f"segment {segment_id} no longer exists"):
        _trends(project, segment_id, store=racing)
    assert racing.raced


@pytest.mark.django_db
def test_a_set_dropped_by_hand_under_a_cached_lookup_is_a_503_then_the_rows_answer(store, client, settings):
    owner, project, segment = _materialised(store, settings, seed=39)
    client.force_login(owner)
    first = _series(_post(client, project, segment.id))
    name = _operand(segment)
    store.command(queries.drop_set_statement(name))  # behind the services' back
    assert _operand(segment) == name  # the cached lookup still names it

    response = _post(client, project, segment.id)
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "1"
    assert "missing; retry" in response.json()["error"]["message"]
    # the store retired the cached lookups: the next one checks the set and reads the rows
    assert _operand(segment).startswith("(SELECT person_id FROM segment_members")
    assert _series(_post(client, project, segment.id)) == first


@pytest.mark.django_db
def test_only_a_missing_set_is_segment_set_missing(store, settings):
    """ClickHouse quotes the query in its message: an unknown column of a query that names
    an existing set stays the StoreQueryError it is (a 500 for a bug), not a 503."""
    _, project, segment = _materialised(store, settings, seed=41)
    name = _operand(segment)
    sql = "SELECT {column} FROM events WHERE project_id = {{project_id:UInt64}} AND person_id IN {name}"
    with pytest.raises(StoreQueryError) as raised:
        store.query(
            Query(name="test.bad_column", sql=sql.format(column="nosuch", name=name), params={"project_id": project.id})
        )
    assert not isinstance(raised.value, SegmentSetMissing)
    gone = queries.set_name(project_id=project.id, segment_id=segment.id, version=99)
    with pytest.raises(SegmentSetMissing, match=gone):
        store.query(
            Query(name="test.gone_set", sql=sql.format(column="count()", name=gone), params={"project_id": project.id})
        )


@pytest.mark.django_db
def test_a_funnel_whose_set_is_dropped_by_hand_fails_once_and_the_next_run_reads_the_rows(store, settings):
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

    name = _operand(segment)
    racing = RacingStore(store, name, lambda: store.command(queries.drop_set_statement(name)))
    with pytest.raises(SegmentSetMissing, match=name):
        run_funnel(project_id=project.id, query=query, store=racing)
    assert racing.raced
    assert run_funnel(project_id=project.id, query=query)["steps"] == before
    assert _operand(segment).startswith("(SELECT person_id FROM segment_members")


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
def test_a_segment_deleted_in_the_admin_is_gone_for_reports_and_later_for_clickhouse(store, client, settings):
    owner, project, segment = _materialised(store, settings, seed=38)
    client.force_login(owner)
    _series(_post(client, project, segment.id))  # a cached lookup names the set
    name = _operand(segment)
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post(f"/admin/segments/segment/{segment.id}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content[:500]

    assert not Segment.objects.filter(id=segment.id).exists()
    with pytest.raises(SegmentMissing):
        _operand(segment)  # the segments version moved: not answered from the cache
    assert store.query(queries.set_exists_query(project_id=project.id, name=name)).scalar()  # the grace
    services.retired_drop(store=store, now=after_grace())
    assert not store.query(queries.set_exists_query(project_id=project.id, name=name)).scalar()


@pytest.mark.django_db
def test_a_definition_edited_in_the_admin_goes_through_the_service(
    store, client, settings, django_capture_on_commit_callbacks
):
    """As in the API: checked, back to query time, the old version retired and the cached
    lookups retired with it (they named the old definition's set)."""
    owner, project, segment = _materialised(store, settings, seed=40)
    client.force_login(owner)
    _series(_post(client, project, segment.id))
    old, kept = _operand(segment), segment.definition
    assert old.startswith("segment_set_")
    admin = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    url = f"/admin/segments/segment/{segment.id}/change/"
    form = {
        "project": project.id,
        "name": "buyers",
        "description": "",
        "refresh_interval_minutes": 60,
        "definition": '{"op": "and", "conditions": [{"kind": "person", "key": "nope", "operator": "eq", "value": 1}]}',
        "refreshing_since_0": "",
        "refreshing_since_1": "",
    }

    invalid = client.post(url, {**form, "definition": '{"op": "xor", "conditions": []}'})
    assert invalid.status_code == 200  # the form again, with the error
    assert "errorlist" in invalid.content.decode()
    segment.refresh_from_db()
    assert segment.definition == kept
    assert segment.is_materialised

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    segment.refresh_from_db()
    assert segment.definition["conditions"][0]["key"] == "nope"
    assert not segment.is_materialised
    assert RetiredMembership.objects.filter(segment_id=segment.id, below=segment.last_version + 1).exists()
    operand = _operand(segment)  # not the cached lookup of the old definition's set
    assert operand.startswith("(SELECT")
    assert "segment_set_" not in operand
    assert set_names(store, project.id, segment.id) == [old]  # kept for the grace period
