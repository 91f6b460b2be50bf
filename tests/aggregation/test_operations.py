"""Operating the aggregation: the in-process beat, partitions and retention, commands."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django_celery_beat.models import PeriodicTask
from prometheus_client import REGISTRY

from analytics.accounts.models import Project
from analytics.aggregation.beat import run_due_tasks
from analytics.aggregation.models import Rollup, Watermark
from analytics.aggregation.partitions import existing_partitions, rollup_partitions_ensure, rollup_partitions_maintain
from analytics.aggregation.services import aggregation_run, watermark_lag_export
from analytics.core.timeutils import utc_now
from analytics.devtools.bench.aggregation_measure import measure_run
from analytics.warehouse.data_version import data_version
from tests.aggregation.helpers import assert_rollups_equal, expected_rollups, insert, random_events, stored_rollups
from tests.factories import UserFactory, member_with_project

pytestmark = pytest.mark.django_db

MEASURES = ["revenue", "duration_sec", "bytes_up", "bytes_down"]


def test_the_schedule_lives_in_the_database_and_the_embedded_beat_runs_due_tasks(store: object) -> None:
    _, project = member_with_project()
    start = (utc_now() - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    rows = random_events(project.id, start, timedelta(hours=1), 200, seed=41)
    insert(rows)
    dispatch = PeriodicTask.objects.get(task="analytics.aggregation.tasks.aggregation_dispatch")
    assert dispatch.enabled
    assert dispatch.interval is not None

    ran = run_due_tasks()

    assert dispatch.name in ran
    dispatch.refresh_from_db()
    assert dispatch.total_run_count == 1
    assert dispatch.last_run_at is not None
    assert Watermark.objects.filter(project=project).count() == 5
    assert_rollups_equal(stored_rollups(project.id, "1h"), expected_rollups(rows, "1h", "UTC", MEASURES))
    assert dispatch.name not in run_due_tasks()  # not due again within its interval


def test_a_disabled_periodic_task_does_not_run(store: object) -> None:
    PeriodicTask.objects.filter(task="analytics.aggregation.tasks.aggregation_dispatch").update(enabled=False)
    assert "aggregation: all streams" not in run_due_tasks()


def test_maintenance_creates_coming_partitions_and_applies_each_projects_retention(store: object) -> None:
    _, short = member_with_project(retention_days=30)
    _, long = member_with_project(retention_days=400)
    now = datetime(2026, 11, 15, tzinfo=UTC)
    old_month = date(2025, 8, 1)  # past every project's retention
    recent = datetime(2026, 9, 1, tzinfo=UTC)  # past the short retention only
    rollup_partitions_ensure([old_month, recent.date()])
    for project in (short, long):
        Rollup.objects.create(
            project=project,
            granularity="1d",
            bucket=recent,
            event="e",
            count=1,
            unique_users=1,
            unique_persons=1,
            measures={},
            computed_at=now,
        )

    done = rollup_partitions_maintain(now=now, months_ahead=3)

    months = existing_partitions()
    assert {date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)} <= months
    assert old_month not in months
    assert done["dropped"] >= 1
    assert not Rollup.objects.filter(project=short).exists()
    assert Rollup.objects.filter(project=long).count() == 1


def test_backfill_restores_damaged_rollups_and_shows_progress(store: object) -> None:
    _, project = member_with_project()
    start = datetime(2026, 7, 1, 8, tzinfo=UTC)
    rows = random_events(project.id, start, timedelta(hours=2), 300, seed=42)
    insert(rows)
    aggregation_run(project_id=project.id, granularity="5m", now=start + timedelta(hours=3))
    expected = expected_rollups(rows, "5m", "UTC", MEASURES)
    damaged = Rollup.objects.filter(project_id=project.id, granularity="5m").order_by("bucket")
    first, last = damaged.first(), damaged.last()
    assert first is not None
    assert last is not None
    Rollup.objects.filter(pk=first.pk).update(count=999_999)
    Rollup.objects.filter(pk=last.pk).delete()

    version_before = data_version(project.id)
    output = io.StringIO()
    for _ in range(2):  # idempotent: twice gives the same answer
        call_command(
            "aggregate_backfill",
            "--from",
            start.isoformat(),
            "--to",
            (start + timedelta(hours=2)).isoformat(),
            "--project",
            str(project.id),
            "--granularity",
            "5m",
            stdout=output,
        )

    assert_rollups_equal(stored_rollups(project.id, "5m"), expected)
    assert f"project {project.id} 5m ━━━━" in output.getvalue()  # the progress bar, filled
    assert data_version(project.id) != version_before  # cached trends read the damaged rollups


def test_aggregate_once_runs_every_granularity_of_a_project(store: object) -> None:
    _, project = member_with_project()
    insert(random_events(project.id, utc_now() - timedelta(hours=2), timedelta(minutes=30), 50, seed=43))
    output = io.StringIO()

    call_command("aggregate", "--project", str(project.id), "--once", stdout=output)

    lines = output.getvalue().splitlines()
    assert len(lines) == 5
    assert all(" done " in line or " idle " in line for line in lines)
    assert Watermark.objects.filter(project=project, event_time_mark__isnull=False).count() == 5


def test_watermark_lag_is_exported_per_project_and_granularity(store: object) -> None:
    _, project = member_with_project()
    mark = utc_now() - timedelta(minutes=10)
    Watermark.objects.create(project=project, granularity="1m", event_time_mark=mark, inserted_mark=mark)

    watermark_lag_export()

    lag = REGISTRY.get_sample_value("watermark_lag_seconds", {"project": str(project.id), "granularity": "1m"})
    assert lag is not None
    assert 600 <= lag < 900


def test_aggregation_behind_drops_to_at_most_one_bucket_once_the_stream_caught_up(store: object) -> None:
    _, project = member_with_project()
    insert(random_events(project.id, utc_now() - timedelta(minutes=30), timedelta(minutes=10), 20, seed=44))
    stale = (utc_now() - timedelta(minutes=20)).replace(second=0, microsecond=0)
    Watermark.objects.create(project=project, granularity="1m", event_time_mark=stale, inserted_mark=utc_now())
    labels = {"project": str(project.id), "granularity": "1m"}
    watermark_lag_export()
    assert (REGISTRY.get_sample_value("aggregation_behind_seconds", labels) or 0) >= 17 * 60

    aggregation_run(project_id=project.id, granularity="1m")

    # 0, or one minute if a minute boundary passed between the run and the measurement.
    assert (REGISTRY.get_sample_value("aggregation_behind_seconds", labels) or 0) <= 60
    assert (REGISTRY.get_sample_value("watermark_lag_seconds", labels) or 0) >= project.aggregation_lateness_seconds


def test_the_benchmark_hook_times_one_run_over_one_hour(store: object) -> None:
    _, project = member_with_project()
    hour = datetime(2026, 6, 1, 10, tzinfo=UTC)
    rows = random_events(project.id, hour, timedelta(hours=1), 300, seed=45)
    insert(rows + random_events(project.id, hour + timedelta(hours=1), timedelta(minutes=5), 10, seed=46))

    figures = measure_run(project.id, hour)

    assert figures["status"] == "done"
    assert figures["events"] == 300
    assert figures["rows_written"] == len(expected_rollups(rows, "1m", "UTC", MEASURES))
    assert figures["seconds"] >= figures["query_seconds"] > 0


def test_the_benchmark_hook_creates_a_project_the_django_database_does_not_know(store: object) -> None:
    unknown = (Project.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1000
    hour = datetime(2026, 6, 2, 10, tzinfo=UTC)
    insert(random_events(unknown, hour, timedelta(hours=1), 50, seed=47))

    figures = measure_run(unknown, hour)

    assert figures["events"] == 50
    assert member_with_project()[1].id != unknown  # the id sequence moved past it


def test_operators_see_watermarks_and_schedules_in_the_admin_and_can_reset_a_stream(store: object) -> None:
    _, project = member_with_project()
    watermark = Watermark.objects.create(
        project=project, granularity="1h", event_time_mark=utc_now(), inserted_mark=utc_now()
    )
    admin = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    assert client.get("/admin/aggregation/watermark/").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    response = client.post(
        "/admin/aggregation/watermark/", {"action": "reset_watermark", "_selected_action": [watermark.pk]}
    )

    assert response.status_code == 302
    watermark.refresh_from_db()
    assert watermark.event_time_mark is None
    assert watermark.inserted_mark is None
