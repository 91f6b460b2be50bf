"""A helper process for the pipeline tests: one chDB directory per process, so the test
process reads a consumer's store through this (after the consumer has exited).

    python -m tests.streams.probe migrate
    python -m tests.streams.probe count --project 7     # prints {"final": n, "unique": n, "raw": n}
    python -m tests.streams.probe hold                  # keeps the directory locked until killed

CLICKHOUSE_URL (chdb://...) names the directory.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import orjson


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django

    django.setup()
    from analytics.warehouse.guard import Query
    from analytics.warehouse.migrator import Migrator
    from analytics.warehouse.store import close_store, get_store

    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["migrate", "count", "hold"])
    parser.add_argument("--project", type=int, default=0)
    args = parser.parse_args()
    store = get_store()
    if args.action == "migrate":
        Migrator(store).migrate()
    elif args.action == "count":
        params = {"project_id": args.project}
        final = store.query(
            Query(
                name="probe_final",
                sql="SELECT count(), uniqExact(event_id) FROM events WHERE project_id = {project_id:UInt64}",
                params=params,
            )
        ).rows()[0]
        raw = store.query(
            Query(
                name="probe_raw",
                sql="SELECT count() FROM events WHERE project_id = {project_id:UInt64}",
                params=params,
            )
        ).scalar()
        sys.stdout.write(orjson.dumps({"final": final[0], "unique": final[1], "raw": raw}).decode() + "\n")
    else:
        sys.stdout.write("holding\n")
        sys.stdout.flush()
        while True:
            time.sleep(1)
    close_store()


if __name__ == "__main__":
    main()
