"""Monthly partitions of the rollup table (PostgreSQL) and retention of rollups.

Partitions hold UTC calendar months of ``bucket`` and are named
``aggregation_rollup_pYYYYMM``. The scheduled maintenance creates the coming months
ahead of time; a run that writes into a month without a partition (a backfill or very
late events) creates it just in time. Retention follows each project: a partition is
dropped when every project's retention has passed it; rows of projects with a shorter
retention are deleted before that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

from analytics.accounts.models import Project
from analytics.aggregation.models import Rollup
from analytics.core.logging import get_logger

log = get_logger(__name__)

PARENT_TABLE = "aggregation_rollup"
# Transaction-level advisory lock key of partition creation (any constant unique to us).
PARTITION_LOCK_KEY = 6_020_261_101
_PARTITION_NAME = re.compile(r"^aggregation_rollup_p(\d{4})(\d{2})$")


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def next_month(month: date) -> date:
    return date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT_TABLE}_p{month.year:04d}{month.month:02d}"


def is_partitioned() -> bool:
    return connection.vendor == "postgresql"


def existing_partitions() -> set[date]:
    """Months that have a partition (PostgreSQL); empty elsewhere."""
    if not is_partitioned():
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent WHERE parent.relname = %s",
            [PARENT_TABLE],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = set()
    for name in names:
        match = _PARTITION_NAME.match(name)
        if match:
            months.add(date(int(match.group(1)), int(match.group(2)), 1))
    return months


def rollup_partitions_ensure(months: Iterable[date]) -> list[date]:
    """Create the missing partitions for ``months``; returns the months created."""
    if not is_partitioned():
        return []
    wanted = {month_start(month) for month in months}
    missing = sorted(wanted - existing_partitions())
    if not missing:
        return []
    with transaction.atomic(), connection.cursor() as cursor:
        # Concurrent runs may want the same new month: serialise creators (until the
        # creating transaction ends) and look again once we hold the lock.
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PARTITION_LOCK_KEY])
        missing = sorted(wanted - existing_partitions())
        for month in missing:
            lower = datetime(month.year, month.month, 1, tzinfo=UTC)
            upper_month = next_month(month)
            upper = datetime(upper_month.year, upper_month.month, 1, tzinfo=UTC)
            # Names come from integers only; bounds are literals PostgreSQL requires here.
            cursor.execute(
                f"CREATE TABLE IF NOT EXISTS {partition_name(month)} PARTITION OF {PARENT_TABLE} "
                f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"
            )
    if missing:
        log.info("aggregation.partitions.created", months=[month.isoformat() for month in missing])
    return missing


def months_spanning(start: datetime, end: datetime) -> list[date]:
    """Every UTC month that [start, end] touches."""
    months = []
    current = month_start(start.astimezone(UTC))
    last = month_start(end.astimezone(UTC))
    while current <= last:
        months.append(current)
        current = next_month(current)
    return months


def rollup_partitions_maintain(*, now: datetime, months_ahead: int = 3) -> dict[str, int]:
    """Create partitions for this month and ``months_ahead`` more; apply each project's
    retention: drop partitions past every project's retention, delete older rows of
    projects with a shorter one. Returns counts of what was done."""
    current = month_start(now.astimezone(UTC))
    months = [current]
    for _ in range(months_ahead):
        months.append(next_month(months[-1]))
    created = rollup_partitions_ensure(months)

    retentions = dict(Project.objects.values_list("id", "retention_days"))
    longest = max(retentions.values(), default=365)
    dropped = 0
    if is_partitioned():
        cutoff = now - timedelta(days=longest)
        with connection.cursor() as cursor:
            for month in sorted(existing_partitions()):
                upper = next_month(month)
                if datetime(upper.year, upper.month, 1, tzinfo=UTC) <= cutoff:
                    cursor.execute(f"DROP TABLE IF EXISTS {partition_name(month)}")
                    dropped += 1
                    log.info("aggregation.partitions.dropped", month=month.isoformat())
    deleted = 0
    for project_id, retention_days in retentions.items():
        if retention_days < longest or not is_partitioned():
            count, _ = Rollup.objects.filter(
                project_id=project_id, bucket__lt=now - timedelta(days=retention_days)
            ).delete()
            deleted += count
    return {"created": len(created), "dropped": dropped, "deleted_rows": deleted}
