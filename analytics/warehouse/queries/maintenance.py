"""SQL of the store's maintenance: retention deletes and merging closed partitions.

Each function returns a :class:`Query` (values as ``{name:Type}`` parameters) or, for
``OPTIMIZE`` which takes no parameters, a statement whose only variable part is a
partition id checked against a strict pattern.
"""

from __future__ import annotations

import re
from datetime import datetime

from analytics.warehouse.guard import Query

_PARTITION_ID = re.compile(r"^\d{6}$")  # toYYYYMM(timestamp)


# The tables whose closed months are merged (all partitioned by ``YYYYMM``).
_MERGED_TABLES = ("events", "action_user_days", "network_actions")
# The tables that carry ``timestamp`` and ``retention_days`` per row: retention deletes
# the same rows from both (``network_actions`` is a copy of some events, migration 0011).
_EVENT_TABLES = ("events", "network_actions")


def _events_table(cluster: str | None, name: str = "events") -> tuple[str, str]:
    """The table that holds the rows (``<name>_local`` on a cluster) and its ON CLUSTER."""
    if name not in _MERGED_TABLES:
        raise ValueError(f"unexpected table {name!r}")
    if cluster:
        return f"{name}_local", f" ON CLUSTER `{cluster}`"
    return name, ""


def expired_rows_count(*, project_id: int, retention_days: int, cutoff: datetime) -> Query:
    """Rows of a project older than ``cutoff`` that were written with a longer retention,
    so their own per-row TTL would keep them past the project's current retention."""
    return Query(
        name="retention.expired_count",
        sql=(
            "SELECT count() FROM events WHERE project_id = {project_id:UInt64} "
            "AND timestamp < {cutoff:DateTime64(3, 'UTC')} AND retention_days > {retention_days:UInt16}"
        ),
        params={"project_id": project_id, "cutoff": cutoff, "retention_days": retention_days},
    )


def expired_rows_delete(
    *,
    project_id: int,
    retention_days: int,
    cutoff: datetime,
    cluster: str | None,
    wait: bool = False,
    name: str = "events",
) -> Query:
    """``ALTER TABLE ... DELETE`` of those rows (a mutation, asynchronous unless ``wait``)
    from ``events`` or ``network_actions``."""
    if name not in _EVENT_TABLES:
        raise ValueError(f"unexpected table {name!r}")
    table, on_cluster = _events_table(cluster, name)
    return Query(
        name=f"retention.delete.{name}",
        sql=(
            f"ALTER TABLE {table}{on_cluster} DELETE WHERE project_id = {{project_id:UInt64}} "
            "AND timestamp < {cutoff:DateTime64(3, 'UTC')} AND retention_days > {retention_days:UInt16}"
        ),
        params={"project_id": project_id, "cutoff": cutoff, "retention_days": retention_days},
        settings={"mutations_sync": 2 if wait else 0},
    )


def expired_user_days_delete(
    *, project_id: int, retention_days: int, cutoff: datetime, cluster: str | None, wait: bool = False
) -> Query:
    """The same for ``action_user_days`` (migration 0008): its rows of UTC months that ended
    before ``cutoff``, written with a longer retention. A month that holds the cutoff keeps
    its rows (a day mask cannot be cut by a DELETE) until its TTL."""
    table, on_cluster = ("action_user_days_local", f" ON CLUSTER `{cluster}`") if cluster else ("action_user_days", "")
    return Query(
        name="retention.delete_user_days",
        sql=(
            f"ALTER TABLE {table}{on_cluster} DELETE WHERE project_id = {{project_id:UInt64}} "
            "AND month < toStartOfMonth(toDate({cutoff:DateTime64(3, 'UTC')}, 'UTC')) "
            "AND retention_days > {retention_days:UInt16}"
        ),
        params={"project_id": project_id, "cutoff": cutoff, "retention_days": retention_days},
        settings={"mutations_sync": 2 if wait else 0},
    )


def unfinished_mutations_sql(cluster: str | None) -> str:
    """How many mutations of the events table are still running (admin query, no tenant data)."""
    table, _ = _events_table(cluster)
    return (
        f"SELECT count() FROM system.mutations WHERE database = currentDatabase() AND table = '{table}' AND NOT is_done"
    )


def closed_partitions_sql(cluster: str | None, name: str = "events") -> str:
    """Partitions of months before ``{current:UInt32}`` that hold more than one active part
    (any of ``_MERGED_TABLES``: all are partitioned by ``YYYYMM``)."""
    table, _ = _events_table(cluster, name)
    return (
        "SELECT partition_id, count() AS parts FROM system.parts "
        f"WHERE database = currentDatabase() AND table = '{table}' AND active "
        "GROUP BY partition_id HAVING parts > 1 AND toUInt32OrZero(partition_id) < {current:UInt32} "
        "ORDER BY partition_id"
    )


def optimize_partition_sql(partition_id: str, cluster: str | None, name: str = "events") -> str:
    """``OPTIMIZE ... PARTITION ID '...' FINAL``: merge one closed month into one part."""
    if not _PARTITION_ID.match(partition_id):
        raise ValueError(f"unexpected events partition id {partition_id!r}")
    table, on_cluster = _events_table(cluster, name)
    return f"OPTIMIZE TABLE {table}{on_cluster} PARTITION ID '{partition_id}' FINAL"
