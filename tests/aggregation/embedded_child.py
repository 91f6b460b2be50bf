"""Run by test_embedded_mode in a child process with the embedded settings (SQLite, chDB
under a temporary DATA_DIR): migrate, insert events, let the in-process beat run the
schedule twice, print what the rollups hold as JSON on the last line."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from analytics.aggregation.beat import run_due_tasks
    from analytics.core.timeutils import utc_now
    from analytics.warehouse.migrator import Migrator
    from analytics.warehouse.store import get_store
    from tests.aggregation.helpers import expected_rollups, insert, random_events, stored_rollups
    from tests.factories import member_with_project

    call_command("migrate", verbosity=0)
    Migrator(get_store()).migrate()
    _, project = member_with_project(timezone="Europe/Berlin")
    start = (utc_now() - timedelta(hours=5)).replace(minute=0, second=0, microsecond=0)
    rows = random_events(project.id, start, timedelta(hours=2), 400, seed=51)
    insert(rows)
    first = run_due_tasks()
    late = random_events(project.id, start, timedelta(minutes=30), 20, seed=52)
    insert(late)
    from analytics.aggregation.services import aggregation_run

    rerun = aggregation_run(project_id=project.id, granularity="5m")
    measures = ["revenue", "duration_sec", "bytes_up", "bytes_down"]
    outcomes: dict[str, str] = {}
    report = {"vendor": connection.vendor, "ran": first, "late_events": rerun.late_events, "granularities": outcomes}
    for granularity in ("1m", "5m", "1h"):
        if granularity != "5m":
            aggregation_run(project_id=project.id, granularity=granularity)
        actual = stored_rollups(project.id, granularity)
        expected = expected_rollups(rows + late, granularity, "Europe/Berlin", measures)
        try:
            from tests.aggregation.helpers import assert_rollups_equal

            assert_rollups_equal(actual, expected)
            outcomes[granularity] = "equal"
        except AssertionError as error:
            outcomes[granularity] = f"different: {error}"
    print(json.dumps(report))
    sys.stdout.flush()
    os._exit(0)  # chDB's threads need not be joined


if __name__ == "__main__":
    main()
