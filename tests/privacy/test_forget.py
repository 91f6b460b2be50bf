"""Forgetting a person: nothing of them is left in events, persons, identities, rollups or
exports, others' figures are unchanged (checked against plain Python over the same events),
the request moves pending -> running -> done -> verified, and later events are stored again."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models.signals import post_save

from analytics.accounts.models import Membership, Role
from analytics.accounts.tokens import UserRefreshToken
from analytics.aggregation.granularity import Granularity, bucket_floor
from analytics.aggregation.models import Rollup
from analytics.aggregation.services import aggregation_run
from analytics.privacy import services
from analytics.privacy.hashing import id_hash
from analytics.privacy.models import DeletionRequest, DeletionSource
from analytics.warehouse.guard import Query
from tests.factories import UserFactory, member_with_project
from tests.ingestion.conftest import stored

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
START = TODAY - timedelta(hours=14)  # yesterday 10:00 UTC: its hour and day buckets are final
PEOPLE = ["alice", "bob", "carol", "dave"]


def jwt(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {UserRefreshToken.for_user(user).access_token}"}


def generated_events() -> list[dict[str, Any]]:
    """Deterministic events: each person several events over two hours, alice partly as anon-a."""
    events = []
    for index in range(120):
        person = PEOPLE[index % len(PEOPLE)]
        distinct_id = "anon-a" if person == "alice" and index % 3 == 0 else person
        moment = START + timedelta(minutes=index, seconds=index % 7)
        events.append(
            {
                "event": ["pageview", "purchase", "signup"][index % 3],
                "distinct_id": distinct_id,
                "timestamp": moment.isoformat(),
                "properties": {"$session_id": f"s-{distinct_id}-{index // 40}", "n": index},
            }
        )
    events.append(
        {
            "event": "$identify",
            "distinct_id": "alice",
            "timestamp": (START + timedelta(minutes=121)).isoformat(),
            "properties": {"$anon_distinct_id": "anon-a", "$set": {"email": "alice@example.com"}},
        }
    )
    events.append(
        {
            "event": "$identify",
            "distinct_id": "bob",
            "timestamp": (START + timedelta(minutes=122)).isoformat(),
            "properties": {"$set": {"email": "bob@example.com"}},
        }
    )
    return events


@pytest.fixture
def world(db: None, store: Any, post: Any) -> dict[str, Any]:
    owner, project = member_with_project()
    events = generated_events()
    response = post({"batch": events}, key=project.write_key)
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == len(events)
    for granularity in Granularity:
        aggregation_run(project_id=project.id, granularity=granularity, wait=True)
    return {"owner": owner, "project": project, "events": events}


def expected_rollups(
    rows: list[dict[str, Any]], granularity: Granularity
) -> dict[tuple[datetime, str], tuple[int, int]]:
    """(bucket, event) -> (count, unique users) from stored rows, in plain Python."""
    counts: Counter[tuple[datetime, str]] = Counter()
    users: dict[tuple[datetime, str], set[str]] = defaultdict(set)
    for row in rows:
        moment = datetime.fromtimestamp(row["ts_ms"] / 1000, UTC)
        key = (bucket_floor(moment, granularity, "UTC"), row["event"])
        counts[key] += 1
        users[key].add(row["distinct_id"])
    return {key: (count, len(users[key])) for key, count in counts.items()}


def stored_rollups(project_id: int, granularity: Granularity) -> dict[tuple[datetime, str], tuple[int, int]]:
    return {
        (rollup.bucket, rollup.event): (rollup.count, rollup.unique_users)
        for rollup in Rollup.objects.filter(project_id=project_id, granularity=granularity.value)
    }


def person_rows(store: Any, project_id: int) -> list[dict[str, Any]]:
    sql = (
        "SELECT toString(person_id) AS person_id, properties FROM persons WHERE project_id = {project_id:UInt64} "
        "ORDER BY person_id, version"
    )
    return store.query(Query(name="test.persons", sql=sql, params={"project_id": project_id})).dicts()


def identity_rows(store: Any, project_id: int) -> list[str]:
    sql = "SELECT distinct_id FROM person_distinct_ids WHERE project_id = {project_id:UInt64} ORDER BY distinct_id"
    query = Query(name="test.identities", sql=sql, params={"project_id": project_id})
    return [row[0] for row in store.query(query).rows()]


def final_buckets(rows: list[dict[str, Any]], granularity: Granularity) -> set[datetime]:
    mark = aggregation_mark(rows[0]["project_id"], granularity)
    return {bucket for bucket, _ in expected_rollups(rows, granularity) if mark and bucket < mark}


def aggregation_mark(project_id: int, granularity: Granularity) -> datetime | None:
    from analytics.aggregation.models import Watermark  # noqa: PLC0415

    return Watermark.objects.get(project_id=project_id, granularity=granularity.value).event_time_mark


def test_forget_removes_everything_of_the_person_and_nothing_else(
    world, store, client, django_capture_on_commit_callbacks
):
    project, owner = world["project"], world["owner"]
    before = stored(store, project.id)
    alice_ids = {"alice", "anon-a"}
    others_before = Counter(row["distinct_id"] for row in before if row["distinct_id"] not in alice_ids)
    assert sum(1 for row in before if row["distinct_id"] in alice_ids) > 0
    for granularity in (Granularity.MINUTE, Granularity.HOUR, Granularity.DAY):
        expected = expected_rollups(before, granularity)
        rollups = stored_rollups(project.id, granularity)
        assert rollups, granularity
        assert all(rollups[key] == expected[key] for key in rollups), granularity
    export_before = client.get(f"/api/v1/projects/{project.id}/persons/alice/export", headers=jwt(owner)).json()
    assert {event["distinct_id"] for event in export_before["events"]} == alice_ids

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/projects/{project.id}/persons/alice/delete", headers=jwt(owner))
        assert response.status_code == 202, response.content
        assert set(response.json()) == {"id", "state"}
        assert response.json()["state"] == "pending"
        deletion_id = response.json()["id"]
        pending = client.get(f"/api/v1/projects/{project.id}/deletions/{deletion_id}", headers=jwt(owner)).json()
        assert pending["state"] == "pending"
    final = client.get(f"/api/v1/projects/{project.id}/deletions/{deletion_id}", headers=jwt(owner)).json()
    assert final["state"] == "verified", final
    assert final["counts"]["events_deleted"] == sum(1 for row in before if row["distinct_id"] in alice_ids)
    assert final["counts"]["rollup_buckets_recomputed"] > 0
    assert final["counts"]["person_rows_deleted"] >= 2  # alice's and anon-a's merged-away row
    assert final["counts"]["identity_rows_deleted"] == 2
    assert final["counts"]["distinct_ids"] == 2

    after = stored(store, project.id)
    assert not [row for row in after if row["distinct_id"] in alice_ids]
    assert Counter(row["distinct_id"] for row in after) == others_before
    assert "alice@example.com" not in str(person_rows(store, project.id))
    assert "bob@example.com" in str(person_rows(store, project.id))  # others' persons stay
    assert not alice_ids & set(identity_rows(store, project.id))
    for granularity in Granularity:
        expected = expected_rollups(after, granularity)
        rollups = stored_rollups(project.id, granularity)
        # Every final bucket equals the plain-Python figure over what is left.
        buckets = final_buckets(before, granularity)
        assert buckets or granularity in (Granularity.MONTH,), granularity
        for bucket in buckets:
            for event in ("pageview", "purchase", "signup", "$identify"):
                assert rollups.get((bucket, event)) == expected.get((bucket, event)), (granularity, bucket, event)
    export_after = client.get(f"/api/v1/projects/{project.id}/persons/alice/export", headers=jwt(owner)).json()
    assert export_after["events"] == []
    assert export_after["persons"] == []
    assert export_after["sessions"] == []
    assert export_after["distinct_ids"] == ["alice"]

    # The request itself holds no personal data.
    record = DeletionRequest.objects.get(pk=deletion_id)
    assert "alice" not in str(DeletionRequest.objects.filter(pk=deletion_id).values().first())
    assert record.subject_hash == id_hash(record.subject_salt, "alice")

    # A later event of the id is a new consent: stored again.
    again = client.post(
        "/api/v1/events",
        data={"event": "pageview", "distinct_id": "alice"},
        content_type="application/json",
        headers={"X-Api-Key": project.write_key},
    )
    assert again.status_code == 202
    assert [row["distinct_id"] for row in stored(store, project.id) if row["distinct_id"] == "alice"] == ["alice"]


def test_states_move_pending_running_done_verified(world, store):
    project = world["project"]
    seen: list[str] = []

    def record(sender: Any, instance: DeletionRequest, **kwargs: Any) -> None:
        seen.append(instance.state)

    post_save.connect(record, sender=DeletionRequest)
    try:
        deletion = services.deletion_request(
            project=project, distinct_id="bob", user=None, source=DeletionSource.COMMAND, run=False
        )
        assert deletion.state == "pending"
        deletion = services.deletion_execute(deletion_id=str(deletion.id), distinct_id="bob")
    finally:
        post_save.disconnect(record, sender=DeletionRequest)
    assert seen == ["pending", "running", "done", "verified"]
    assert deletion.done_at is not None
    assert deletion.verified_at is not None
    # Re-running a verified request changes nothing; a wrong id for it is refused.
    assert services.deletion_execute(deletion_id=str(deletion.id), distinct_id="bob").state == "verified"
    with pytest.raises(services.ApplicationError):
        services.deletion_execute(deletion_id=str(deletion.id), distinct_id="carol")
    assert not [row for row in stored(store, project.id) if row["distinct_id"] == "bob"]


def test_unknown_person_is_verified_with_zero_counts(world, store):
    deletion = services.deletion_request(project=world["project"], distinct_id="nobody", user=None, run=False)
    deletion = services.deletion_execute(deletion_id=str(deletion.id), distinct_id="nobody")
    assert deletion.state == "verified"
    assert deletion.counts["events_deleted"] == 0
    assert len(stored(store, world["project"].id)) == len(world["events"])


def test_forget_persons_command(world, store, tmp_path):
    from django.core.management import call_command  # noqa: PLC0415

    ids = tmp_path / "ids.txt"
    ids.write_text("carol\n\ndave\ncarol\n")
    call_command("forget_persons", "--project", str(world["project"].id), "--ids-file", str(ids))
    left = {row["distinct_id"] for row in stored(store, world["project"].id)}
    assert not left & {"carol", "dave"}
    assert {"alice", "bob"} <= left
    requests = DeletionRequest.objects.filter(project=world["project"])
    assert sorted(request.state for request in requests) == ["verified", "verified"]
    assert {request.source for request in requests} == {"command"}


def test_forget_persons_command_refuses_a_bad_id_before_deleting(world, store, tmp_path):
    from django.core.management import call_command  # noqa: PLC0415
    from django.core.management.base import CommandError  # noqa: PLC0415

    ids = tmp_path / "ids.txt"
    ids.write_text("carol\n" + "x" * 201 + "\n")
    with pytest.raises(CommandError, match="line 2"):
        call_command("forget_persons", "--project", str(world["project"].id), "--ids-file", str(ids))
    assert "carol" in {row["distinct_id"] for row in stored(store, world["project"].id)}


def test_other_projects_member_gets_404_and_a_member_403(world, client):
    project = world["project"]
    outsider, _ = member_with_project()
    deletion = services.deletion_request(project=project, distinct_id="dave", user=None, run=False)
    for method, path in (
        ("post", f"/api/v1/projects/{project.id}/persons/alice/delete"),
        ("get", f"/api/v1/projects/{project.id}/persons/alice/export"),
        ("get", f"/api/v1/projects/{project.id}/deletions/{deletion.id}"),
        ("get", f"/api/v1/projects/{project.id}/deletions/"),
        ("get", f"/api/v1/projects/{project.id}/privacy"),
        ("get", f"/api/v1/projects/{project.id}/suppressions/"),
    ):
        assert getattr(client, method)(path, headers=jwt(outsider)).status_code == 404, path
    # Another project's deletion id under one's own project: 404 as well.
    _, own = member_with_project()
    own_owner = own.organisation.memberships.get().user
    assert client.get(f"/api/v1/projects/{own.id}/deletions/{deletion.id}", headers=jwt(own_owner)).status_code == 404
    assert client.get(f"/api/v1/projects/{own.id}/deletions/not-a-uuid", headers=jwt(own_owner)).status_code == 404
    member = UserFactory()
    Membership.objects.create(user=member, organisation=project.organisation, role=Role.MEMBER)
    assert client.post(f"/api/v1/projects/{project.id}/persons/alice/delete", headers=jwt(member)).status_code == 403
    assert client.get(f"/api/v1/projects/{project.id}/persons/alice/export", headers=jwt(member)).status_code == 403
    assert client.get(f"/api/v1/projects/{project.id}/deletions/", headers=jwt(member)).status_code == 200


def test_bad_input_is_400_naming_the_field(world, client):
    project, owner = world["project"], world["owner"]
    long_id = "x" * 201
    response = client.post(f"/api/v1/projects/{project.id}/persons/{long_id}/delete", headers=jwt(owner))
    assert response.status_code == 400
    assert "distinct_id" in response.json()["error"]["fields"]
    response = client.post(
        f"/api/v1/projects/{project.id}/persons/alice/delete",
        data={"suppress": "perhaps"},
        content_type="application/json",
        headers=jwt(owner),
    )
    assert response.status_code == 400
    assert "suppress" in str(response.json())
    response = client.get(f"/api/v1/projects/{project.id}/persons/%07bell/export", headers=jwt(owner))
    assert response.status_code == 400
    assert not DeletionRequest.objects.filter(project=project).exists()


def test_a_failing_run_answers_202_and_records_failed(world, client, store, django_capture_on_commit_callbacks):
    project, owner = world["project"], world["owner"]
    # The store's read circuit is open (as when ClickHouse is down): the task's first query fails.
    breaker = store.breaker
    breaker.open()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/api/v1/projects/{project.id}/persons/carol/delete", headers=jwt(owner))
    finally:
        breaker.close()
    assert response.status_code == 202
    deletion = DeletionRequest.objects.get(pk=response.json()["id"])
    assert deletion.state == "failed"
    assert "carol" not in deletion.error
    assert "carol" in {row["distinct_id"] for row in stored(store, project.id)}
    # Re-submitting the id does the work.
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/api/v1/projects/{project.id}/persons/carol/delete", headers=jwt(owner))
    assert DeletionRequest.objects.get(pk=again.json()["id"]).state == "verified"


def test_forgetting_in_one_project_leaves_the_same_id_in_another(world, store, client):
    from analytics.streams.sink import store_event_batch  # noqa: PLC0415
    from tests.warehouse.helpers import event_row  # noqa: PLC0415

    project, owner = world["project"], world["owner"]
    _, other = member_with_project()
    moment = START + timedelta(minutes=5)
    store_event_batch(
        [event_row(other.id, distinct_id="alice", timestamp=moment, received_at=moment, properties="{}")],
        dedup_token=f"privacy-other-{other.id}",
    )
    deletion = services.deletion_request(project=project, distinct_id="alice", user=None, run=False)
    assert services.deletion_execute(deletion_id=str(deletion.id), distinct_id="alice").state == "verified"
    assert [row["distinct_id"] for row in stored(store, other.id)] == ["alice"]
    listed = client.get(f"/api/v1/projects/{project.id}/deletions/", headers=jwt(owner)).json()
    assert [item["id"] for item in listed["results"]] == [str(deletion.id)]
    assert listed["results"][0]["state"] == "verified"


def _network_action_users(store: Any, project_id: int) -> Counter[str]:
    sql = "SELECT distinct_id FROM network_actions WHERE project_id = {project_id:UInt64}"
    rows = store.query(Query(name="test.network_actions", sql=sql, params={"project_id": project_id})).rows()
    return Counter(row[0] for row in rows)


def test_forget_removes_the_persons_network_actions_and_keeps_the_others(world, store, post):
    project = world["project"]
    calls = [  # distinct times: the same content would be one event (its id derives from it)
        {"event": "CALL_OUT", "distinct_id": person, "timestamp": (START + timedelta(minutes=minute)).isoformat()}
        for minute, person in enumerate(("dave", "dave", "carol"))
    ]
    response = post({"batch": calls}, key=project.write_key)
    assert response.status_code == 202, response.content
    assert _network_action_users(store, project.id) == Counter({"dave": 2, "carol": 1})

    deletion = services.deletion_request(project=project, distinct_id="dave", user=None, run=False)
    deletion = services.deletion_execute(deletion_id=str(deletion.id), distinct_id="dave")

    assert deletion.state == "verified", deletion.error
    assert _network_action_users(store, project.id) == Counter({"carol": 1})
