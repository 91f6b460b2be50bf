"""A person's export against plain Python over the same events; retention of events and
rollups enforced by the scheduled tasks; the admin's forms."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django_celery_beat.models import PeriodicTask

from analytics.aggregation.models import Rollup
from analytics.aggregation.partitions import months_spanning, rollup_partitions_ensure
from analytics.aggregation.tasks import rollup_partitions_maintain
from analytics.platform.tasks import events_retention_enforce
from analytics.privacy.models import DeletionRequest, PrivacySettings, SuppressedId
from tests.ingestion.conftest import stored
from tests.privacy.test_forget import jwt, world  # noqa: F401 - the fixture
from tests.warehouse.helpers import event_row

DAY = timedelta(days=1)


def test_export_holds_exactly_the_persons_events_sessions_and_properties(world, client, store):  # noqa: F811
    project, owner = world["project"], world["owner"]
    rows = [row for row in stored(store, project.id) if row["distinct_id"] in ("alice", "anon-a")]
    export = client.get(f"/api/v1/projects/{project.id}/persons/anon-a/export", headers=jwt(owner))
    assert export.status_code == 200
    body = export.json()
    assert body["distinct_ids"] == ["alice", "anon-a"]  # the whole merged group, from either id
    assert [event["event_id"] for event in body["events"]] == [row["event_id_text"] for row in rows]
    assert body["events_complete"] is True
    assert body["events"][0]["properties"] == {"$session_id": "s-anon-a-0", "n": 0}
    # Sessions as docs/query.md defines them: a client session id wins; other events of a
    # person chain, split by gaps over 30 minutes or a UTC midnight (the project's rules).
    sessions: dict[str, list[int]] = defaultdict(list)
    chains: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        if row["session_id"]:
            sessions["c:" + row["session_id"]].append(row["ts_ms"])
        else:
            chains[row["person_id_text"]].append(row["ts_ms"])
    for person, times in chains.items():
        key = None
        for index, moment in enumerate(sorted(times)):
            previous = sorted(times)[index - 1] if index else None
            day = datetime.fromtimestamp(moment / 1000, UTC).date()
            if (
                previous is None
                or moment - previous > 30 * 60_000
                or day != datetime.fromtimestamp(previous / 1000, UTC).date()
            ):
                key = f"p:{person}:{moment}"
            sessions[key].append(moment)
    expected = sorted((min(times), key, len(times), max(times)) for key, times in sessions.items())
    got = [
        (
            int(datetime.fromisoformat(item["started_at"]).timestamp() * 1000),
            item["session_key"],
            item["event_count"],
            int(datetime.fromisoformat(item["ended_at"]).timestamp() * 1000),
        )
        for item in body["sessions"]
    ]
    assert got == expected
    properties = [person["properties"] for person in body["persons"] if not person["merged_into_another"]]
    assert properties == [{"email": "alice@example.com"}]
    assert "bob" not in str(body)


@pytest.mark.django_db
def test_retention_of_events_and_rollups_is_scheduled_at_least_daily():
    tasks = {task.task: task for task in PeriodicTask.objects.select_related("interval")}
    for name in (
        "analytics.platform.tasks.events_retention_enforce",
        "analytics.aggregation.tasks.rollup_partitions_maintain",
    ):
        task = tasks[name]
        assert task.enabled
        assert task.interval.period in ("hours", "minutes") or (
            task.interval.period == "days" and task.interval.every == 1
        )


@pytest.mark.django_db
def test_a_shortened_retention_removes_old_events_and_rollups(store):
    from tests.factories import member_with_project  # noqa: PLC0415

    _, project = member_with_project(retention_days=400)
    member_with_project(retention_days=365)  # a longer retention elsewhere: rows are deleted, not partitions
    now = datetime.now(UTC)
    old, recent = now - 100 * DAY, now - 2 * DAY
    store.insert_events(
        [
            event_row(project.id, timestamp=old, received_at=old, retention_days=400),
            event_row(project.id, timestamp=recent, received_at=recent, retention_days=400),
        ],
        dedup_token=f"privacy-retention-{project.id}",
    )
    rollup_partitions_ensure(months_spanning(old, recent))
    for bucket in (old, recent):
        Rollup.objects.create(
            project=project,
            granularity="1h",
            bucket=bucket.replace(minute=0, second=0, microsecond=0),
            event="pageview",
            count=1,
            unique_users=1,
            unique_persons=1,
            computed_at=now,
        )
    project.retention_days = 30
    project.save()
    events_retention_enforce.apply(throw=True)
    rollup_partitions_maintain.apply(throw=True)
    # The task's mutation runs asynchronously: wait for it here.
    for _ in range(100):
        left = stored(store, project.id)
        if len(left) == 1:
            break
        time.sleep(0.1)
    assert [row["ts_ms"] // 1000 for row in left] == [int(recent.timestamp())]
    assert list(Rollup.objects.filter(project=project).values_list("bucket", flat=True)) == [
        recent.replace(minute=0, second=0, microsecond=0)
    ]


@pytest.mark.django_db
def test_admin_forgets_a_person_and_suppresses_by_hash(admin_client, store):
    from tests.factories import member_with_project  # noqa: PLC0415

    _, project = member_with_project()
    store.insert_events([event_row(project.id, distinct_id="zed")], dedup_token=f"privacy-admin-{project.id}")
    response = admin_client.post(
        "/admin/privacy/deletionrequest/add/", {"project": project.id, "distinct_id": "zed", "suppress": "on"}
    )
    assert response.status_code == 302, response.content
    deletion = DeletionRequest.objects.get(project=project)
    assert deletion.source == "admin"
    # Test transactions never commit, so the queued task did not run: run what it runs.
    from analytics.privacy.services import deletion_execute  # noqa: PLC0415

    assert deletion_execute(deletion_id=str(deletion.id), distinct_id="zed").state == "verified"
    assert stored(store, project.id) == []
    assert SuppressedId.objects.filter(project=project).count() == 1
    page = admin_client.get(f"/admin/privacy/deletionrequest/{deletion.id}/change/")
    assert page.status_code == 200
    assert b"zed" not in page.content
    assert admin_client.get("/admin/privacy/suppressedid/").status_code == 200
    bad = admin_client.post("/admin/privacy/deletionrequest/add/", {"project": project.id, "distinct_id": "a\x07b"})
    assert bad.status_code == 200  # the form again, with the error
    assert DeletionRequest.objects.filter(project=project).count() == 1
    settings_page = admin_client.post(
        "/admin/privacy/privacysettings/add/",
        {"project": project.id, "drop_properties": '["email"]', "hash_properties": '["bad name!"]'},
    )
    assert settings_page.status_code == 200
    assert not PrivacySettings.objects.filter(project=project, drop_properties=["email"]).exists()


@pytest.mark.django_db
def test_admin_privacy_settings_reach_ingestion(admin_client, store, django_capture_on_commit_callbacks):
    from analytics.ingestion.row_policy import policy_for  # noqa: PLC0415
    from tests.factories import member_with_project  # noqa: PLC0415

    _, project = member_with_project()
    assert policy_for(project.id) is None
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/privacy/privacysettings/add/",
            {"project": project.id, "drop_properties": '["email"]', "hash_properties": "[]"},
        )
    assert response.status_code == 302, response.content
    policy = policy_for(project.id)
    assert policy is not None
    row = {"distinct_id": "u", "properties": '{"email": "x@example.com", "plan": "pro"}'}
    assert policy.apply([row])[0]["properties"] == '{"plan":"pro"}'
