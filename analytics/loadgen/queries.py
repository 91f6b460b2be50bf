"""ClickHouse SQL of the load generator's verification (scoped by project, parameterised)."""

from __future__ import annotations

from datetime import datetime

from analytics.warehouse.guard import Query


def stored_events(*, project_id: int, since: datetime) -> Query:
    """Each event id received since ``since``: stored copies, first insert time (ms).

    ``copies`` > 1 means one event id counts twice in results (a duplicate users would see:
    every read is a plain read of the table, which should hold each event once).
    """
    return Query(
        name="loadgen.stored_events",
        sql=(
            "SELECT toString(event_id) AS event_id, count() AS copies, "
            "toUnixTimestamp64Milli(min(inserted_at)) AS inserted_ms "
            "FROM events "
            "WHERE project_id = {project_id:UInt64} AND received_at >= {since:DateTime64(3, 'UTC')} "
            "GROUP BY event_id"
        ),
        params={"project_id": project_id, "since": since},
    )


def physical_copies(*, project_id: int, since: datetime) -> Query:
    """Rows stored beyond one per event id (retries, repeats that the write-time check let through)."""
    return Query(
        name="loadgen.physical_copies",
        sql=(
            "SELECT count() - uniqExact(event_id) FROM events "
            "WHERE project_id = {project_id:UInt64} AND received_at >= {since:DateTime64(3, 'UTC')}"
        ),
        params={"project_id": project_id, "since": since},
    )
