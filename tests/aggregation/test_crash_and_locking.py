"""A run commits its rollups and its watermark together or not at all, and two runs of
one stream never both write. Against real PostgreSQL transactions (transaction=True)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.db import DatabaseError, connection, connections, transaction

from analytics.aggregation.granularity import Granularity
from analytics.aggregation.models import Rollup, Watermark
from analytics.aggregation.services import RunResult, aggregation_run, watermark_get_or_create
from tests.aggregation.helpers import (
    assert_rollups_equal,
    expected_rollups,
    insert,
    make_event,
    random_events,
    stored_rollups,
)
from tests.factories import member_with_project

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
NOW = START + timedelta(hours=3)
MEASURES = ["revenue", "duration_sec", "bytes_up", "bytes_down"]


@pytest.fixture
def failing_watermark_update() -> Iterator[None]:
    """A trigger that makes PostgreSQL refuse to move a watermark: a real failure of the
    statement that follows the rollup write inside the run's transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_watermark_move() RETURNS trigger AS $$ BEGIN "
            "IF NEW.event_time_mark IS DISTINCT FROM OLD.event_time_mark THEN "
            "RAISE EXCEPTION 'simulated crash before the watermark moved'; END IF; RETURN NEW; END $$ "
            "LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_watermark_move BEFORE UPDATE ON aggregation_watermark "
            "FOR EACH ROW EXECUTE FUNCTION refuse_watermark_move()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse_watermark_move ON aggregation_watermark")
        cursor.execute("DROP FUNCTION IF EXISTS refuse_watermark_move()")


def test_a_crash_between_rollup_write_and_watermark_update_keeps_the_old_state(
    store: object, failing_watermark_update: None
) -> None:
    _, project = member_with_project()
    rows = random_events(project.id, START, timedelta(hours=1), 400, seed=21)
    insert(rows)

    with pytest.raises(DatabaseError, match="simulated crash"):
        aggregation_run(project_id=project.id, granularity="5m", now=NOW)

    assert not Rollup.objects.filter(project_id=project.id).exists()
    watermark = Watermark.objects.get(project=project, granularity="5m")
    assert watermark.event_time_mark is None
    assert watermark.inserted_mark is None
    assert "simulated crash" in watermark.last_error


def test_the_rerun_after_a_crash_produces_the_same_rollups_as_an_uninterrupted_run(store: object) -> None:
    _, project = member_with_project()
    rows = random_events(project.id, START, timedelta(hours=1), 400, seed=22)
    insert(rows)
    aggregation_run(project_id=project.id, granularity="5m", now=NOW)
    late = [
        make_event(
            project.id,
            START + timedelta(minutes=3),
            event="CALL_OUT",
            distinct_id="late",
            properties={"duration_sec": 5},
        )
    ]
    insert(late)
    before = stored_rollups(project.id, "5m")
    mark_before = Watermark.objects.get(project=project, granularity="5m").inserted_mark

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_inserted_move() RETURNS trigger AS $$ BEGIN "
            "IF NEW.inserted_mark IS DISTINCT FROM OLD.inserted_mark THEN "
            "RAISE EXCEPTION 'simulated crash'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_inserted_move BEFORE UPDATE ON aggregation_watermark "
            "FOR EACH ROW EXECUTE FUNCTION refuse_inserted_move()"
        )
    try:
        with pytest.raises(DatabaseError):
            aggregation_run(project_id=project.id, granularity="5m", now=NOW)
        # The late bucket was rewritten inside the failed transaction: nothing of it is left.
        assert stored_rollups(project.id, "5m") == before
        assert Watermark.objects.get(project=project, granularity="5m").inserted_mark == mark_before
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_inserted_move ON aggregation_watermark")
            cursor.execute("DROP FUNCTION refuse_inserted_move()")

    result = aggregation_run(project_id=project.id, granularity="5m", now=NOW)

    assert result.late_events == 1
    assert_rollups_equal(stored_rollups(project.id, "5m"), expected_rollups(rows + late, "5m", "UTC", MEASURES))


def test_a_run_skips_a_stream_locked_by_another_run(store: object) -> None:
    _, project = member_with_project()
    insert(random_events(project.id, START, timedelta(hours=1), 100, seed=23))
    watermark = watermark_get_or_create(project_id=project.id, granularity=Granularity.HOUR)
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        try:
            with transaction.atomic():
                Watermark.objects.select_for_update().get(pk=watermark.pk)
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert locked.wait(30)
        skipped = aggregation_run(project_id=project.id, granularity="1h", now=NOW)
        assert skipped.status == "skipped"
        assert not Rollup.objects.filter(project_id=project.id).exists()
    finally:
        release.set()
        holder.join(30)

    assert aggregation_run(project_id=project.id, granularity="1h", now=NOW).status == "done"


def test_two_concurrent_runs_of_one_stream_do_not_both_write(store: object) -> None:
    _, project = member_with_project()
    rows = random_events(project.id, START, timedelta(hours=1), 1000, seed=24)
    insert(rows)
    watermark_get_or_create(project_id=project.id, granularity=Granularity.MINUTE)
    barrier = threading.Barrier(2)
    results: list[RunResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(30)
            results.append(aggregation_run(project_id=project.id, granularity="1m", now=NOW))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    writers = [result for result in results if result.rows_written > 0]
    assert len(writers) == 1
    assert {result.status for result in results} - {"done"} <= {"skipped", "idle"}
    assert_rollups_equal(stored_rollups(project.id, "1m"), expected_rollups(rows, "1m", "UTC", MEASURES))
