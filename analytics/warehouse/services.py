"""Maintenance of the event store: per-project retention and merging closed partitions.

Why both exist (docs/event-store.md, "Retention and partition maintenance"):
- Retention: each row carries the ``retention_days`` of its project at ingestion, and the
  table TTL drops it when ``timestamp + retention_days`` passes. When a project's retention
  SHRINKS, rows already written keep their longer value, so :func:`events_retention_enforce`
  deletes the rows the TTL would keep too long. Run periodically (not from the settings
  change), it also catches rows that age past the new retention later.
- Part count: every insert writes new parts and ClickHouse merges them in the background,
  but it leaves a month of many mid-sized parts unmerged for long. A past month rarely
  changes, so :func:`events_partitions_optimize` merges it into one part once
  (``OPTIMIZE ... FINAL``): fewer parts to open per query, better compression, one place
  for the TTL to act. Plain maintenance: the table holds each event once (duplicates are
  dropped when they are written), so no read waits for a merge to be correct.
- ``action_user_days`` (migration 0008) and ``network_actions`` (0011) follow inserts by
  themselves; after a deletion of some users' events, :func:`network_action_tables_rebuild`
  makes their rows match what remains. Retention deletes from ``network_actions`` what it
  deletes from ``events``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from analytics.core.logging import get_logger
from analytics.core.timeutils import utc_now
from analytics.warehouse import metrics
from analytics.warehouse.queries import action_user_days, maintenance, network_actions
from analytics.warehouse.store import EventStore, get_store

log = get_logger(__name__)


@dataclass(frozen=True)
class RetentionResult:
    project_id: int
    retention_days: int
    expired_rows: int
    deleted: bool
    skipped_reason: str = ""


def events_retention_enforce(
    *,
    project_id: int,
    retention_days: int,
    now: datetime | None = None,
    wait: bool = False,
    store: EventStore | None = None,
) -> RetentionResult:
    """Delete a project's rows older than ``retention_days`` that their TTL would keep.

    Cheap when there is nothing to do: one count on the sort key prefix (project, hour).
    Otherwise one ``ALTER TABLE ... DELETE`` mutation filtered by project, with the cut-off
    and retention as parameters. ``wait`` blocks until the mutation finished (tests, CLI).
    A mutation still running from an earlier round is not piled on: that round is skipped.
    """
    store = store or get_store()
    cutoff = (now or utc_now()) - timedelta(days=retention_days)
    expired = int(
        store.query(
            maintenance.expired_rows_count(project_id=project_id, retention_days=retention_days, cutoff=cutoff)
        ).scalar()
        or 0
    )
    if expired == 0:
        return RetentionResult(project_id, retention_days, 0, deleted=False)
    running = int(
        store.query_unscoped_admin(
            "retention.mutations_running", maintenance.unfinished_mutations_sql(store.cluster)
        ).scalar()
        or 0
    )
    if running:
        log.info("store.retention.deferred", project_id=project_id, running_mutations=running)
        return RetentionResult(project_id, retention_days, expired, deleted=False, skipped_reason="mutation running")
    # The tables derived from events first, events last: the round's trigger is expired
    # events, so a failure anywhere leaves them for the next round, which deletes again
    # from every table (the deletes are idempotent). Events first would let a failed
    # derived delete wait for that table's own TTL, which carries the older retention.
    rows = functools.partial(
        maintenance.expired_rows_delete,
        project_id=project_id,
        retention_days=retention_days,
        cutoff=cutoff,
        cluster=store.cluster,
        wait=wait,
    )
    user_days = maintenance.expired_user_days_delete(
        project_id=project_id, retention_days=retention_days, cutoff=cutoff, cluster=store.cluster, wait=wait
    )
    for statement in (rows(name="network_actions"), user_days, rows(name="events")):
        store.execute(statement)
    metrics.STORE_RETENTION_ROWS.inc(expired)
    log.info("store.retention.delete", project_id=project_id, retention_days=retention_days, rows=expired)
    return RetentionResult(project_id, retention_days, expired, deleted=True)


def events_retention_enforce_all(
    *, projects: list[tuple[int, int]], now: datetime | None = None, store: EventStore | None = None
) -> list[RetentionResult]:
    """:func:`events_retention_enforce` for each ``(project_id, retention_days)``."""
    moment = now or utc_now()
    return [
        events_retention_enforce(project_id=project_id, retention_days=days, now=moment, store=store)
        for project_id, days in projects
    ]


def events_partitions_optimize(
    *, now: datetime | None = None, max_partitions: int = 2, store: EventStore | None = None, table: str = "events"
) -> list[str]:
    """Merge up to ``max_partitions`` closed months (before the current one) of ``table``
    that hold more than one part into one part each; returns their partition ids.

    Bounded per run because a merge rewrites the month. A late event re-opens a month
    (a new part); a later run merges it again.
    """
    store = store or get_store()
    moment = now or utc_now()
    current = moment.year * 100 + moment.month
    rows = store.query_unscoped_admin(
        "maintenance.closed_partitions", maintenance.closed_partitions_sql(store.cluster, table), {"current": current}
    ).rows()
    merged = []
    for partition_id, parts in rows[:max_partitions]:
        store.command(maintenance.optimize_partition_sql(str(partition_id), store.cluster, table))
        metrics.STORE_PARTITIONS_OPTIMIZED.inc()
        log.info("store.partition.optimized", table=table, partition=partition_id, parts_before=int(parts))
        merged.append(str(partition_id))
    return merged


def user_days_partitions_optimize(
    *, now: datetime | None = None, max_partitions: int = 12, store: EventStore | None = None
) -> list[str]:
    """The same for ``action_user_days`` (migration 0008), whose background merges also
    leave a month in a few parts: a closed month in one part is read with ``FINAL`` at the
    cost of a plain scan (``telecom/composed.py``). A month of it is about a tenth of the
    month's network actions in rows of 40 bytes, so more months per run."""
    return events_partitions_optimize(now=now, max_partitions=max_partitions, store=store, table="action_user_days")


def network_actions_partitions_optimize(
    *, now: datetime | None = None, max_partitions: int = 12, store: EventStore | None = None
) -> list[str]:
    """The same for ``network_actions`` (migration 0011): a user's detail opens every part
    of the months it reads, and the table is the network actions alone, so a month of it
    merges quickly."""
    return events_partitions_optimize(now=now, max_partitions=max_partitions, store=store, table="network_actions")


def network_action_tables_rebuild(*, project_id: int, distinct_ids: list[str], store: EventStore | None = None) -> None:
    """Rebuild the rows of these users in ``action_user_days`` and ``network_actions`` from
    their remaining events.

    Call it after their events were deleted (the tables' views see inserts only). Idempotent.
    """
    if not distinct_ids:
        return
    store = store or get_store()
    for table in (action_user_days, network_actions):
        store.execute(table.users_delete(project_id=project_id, distinct_ids=distinct_ids, cluster=store.cluster))
    store.execute(action_user_days.users_refill(project_id=project_id, distinct_ids=distinct_ids))
    store.execute(network_actions.users_refill(project_id=project_id, distinct_ids=distinct_ids, cluster=store.cluster))
