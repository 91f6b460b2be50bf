"""Writing rollup rows into the Django database: COPY + one upsert on PostgreSQL,
a bulk upsert on SQLite. Both replace the recomputed buckets of a stream: rows of those
buckets are deleted first, so an event name that vanished from a bucket (a deleted
user, a re-sent event collapsing) leaves no stale row behind.

Call inside the transaction that also advances the watermark.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection
from django.db.models import Q

from analytics.aggregation.models import Rollup

ROLLUP_COLUMNS = ("bucket", "event", "count", "unique_users", "unique_persons", "measures")
_ARROW_TYPES = {
    "bucket": pa.int64(),
    "event": pa.string(),
    "count": pa.int64(),
    "unique_users": pa.int64(),
    "unique_persons": pa.int64(),
    "measures": pa.string(),
}


def normalise_rollup_table(table: pa.Table) -> pa.Table:
    """The store's answer in a fixed column order and plain types (no dictionaries)."""
    if table.num_columns == 0:
        return pa.table({name: pa.array([], type=kind) for name, kind in _ARROW_TYPES.items()})
    return pa.table({name: table.column(name).cast(kind) for name, kind in _ARROW_TYPES.items()})


@dataclass(frozen=True)
class RollupReplacement:
    """The rows of one stream's recomputed buckets: [start, end) plus each dirty bucket."""

    project_id: int
    granularity: str
    table: pa.Table
    start: datetime
    end: datetime
    dirty_buckets: Sequence[datetime]
    computed_at: datetime


def rollups_replace(
    *,
    project_id: int,
    granularity: str,
    table: pa.Table,
    start: datetime,
    end: datetime,
    dirty_buckets: Sequence[datetime],
    computed_at: datetime,
) -> int:
    """Replace the stream's rows in [start, end) and in each dirty bucket with ``table``."""
    replacement = RollupReplacement(
        project_id, granularity, normalise_rollup_table(table), start, end, list(dirty_buckets), computed_at
    )
    if connection.vendor == "postgresql":
        return _replace_postgresql(replacement)
    return _replace_bulk(replacement)


def _replace_postgresql(batch: RollupReplacement) -> int:
    buffer = io.BytesIO()
    # Arrow writes the CSV in C; every string is quoted so an empty value stays '' not NULL.
    pa_csv.write_csv(
        batch.table, buffer, write_options=pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS aggregation_rollup_staging ("
            " bucket_epoch bigint NOT NULL, event text NOT NULL, count bigint NOT NULL,"
            " unique_users bigint NOT NULL, unique_persons bigint NOT NULL, measures jsonb NOT NULL"
            ") ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE aggregation_rollup_staging")
        columns = ", ".join(("bucket_epoch", *ROLLUP_COLUMNS[1:]))
        with cursor.cursor.copy(f"COPY aggregation_rollup_staging ({columns}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(
            "DELETE FROM aggregation_rollup WHERE project_id = %s AND granularity = %s"
            " AND ((bucket >= %s AND bucket < %s) OR bucket = ANY(%s))",
            [batch.project_id, batch.granularity, batch.start, batch.end, list(batch.dirty_buckets)],
        )
        cursor.execute(
            "INSERT INTO aggregation_rollup"
            " (project_id, granularity, bucket, event, count, unique_users, unique_persons, measures, computed_at)"
            " SELECT %s, %s, to_timestamp(bucket_epoch), event, count, unique_users, unique_persons, measures, %s"
            " FROM aggregation_rollup_staging"
            " ON CONFLICT (project_id, granularity, bucket, event) DO UPDATE SET"
            " count = EXCLUDED.count, unique_users = EXCLUDED.unique_users,"
            " unique_persons = EXCLUDED.unique_persons, measures = EXCLUDED.measures,"
            " computed_at = EXCLUDED.computed_at",
            [batch.project_id, batch.granularity, batch.computed_at],
        )
        return cursor.rowcount


def _replace_bulk(batch: RollupReplacement) -> int:
    Rollup.objects.filter(project_id=batch.project_id, granularity=batch.granularity).filter(
        Q(bucket__gte=batch.start, bucket__lt=batch.end) | Q(bucket__in=list(batch.dirty_buckets))
    ).delete()
    columns = {name: batch.table.column(name).to_pylist() for name in ROLLUP_COLUMNS}
    objects = [
        Rollup(
            project_id=batch.project_id,
            granularity=batch.granularity,
            bucket=datetime.fromtimestamp(bucket, tz=UTC),
            event=event,
            count=count,
            unique_users=unique_users,
            unique_persons=unique_persons,
            measures=orjson.loads(measures),
            computed_at=batch.computed_at,
        )
        for bucket, event, count, unique_users, unique_persons, measures in zip(
            *(columns[name] for name in ROLLUP_COLUMNS), strict=True
        )
    ]
    Rollup.objects.bulk_create(
        objects,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["project", "granularity", "bucket", "event"],
        update_fields=["count", "unique_users", "unique_persons", "measures", "computed_at"],
    )
    return len(objects)
