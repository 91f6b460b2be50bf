"""The events table.

Why these choices (see docs/event-store.md for more):
- ReplacingMergeTree(inserted_at) sorted by (project_id, day, event, event_id): one
  project's day is a contiguous range, and a re-sent event id collapses into one row
  on merge; reads use FINAL so a duplicate is never counted before the merge.
- PARTITION BY month keeps partitions few and lets TTL drop whole parts.
- TTL from a per-row retention_days, written at ingestion from the project's setting,
  so each project's retention holds without manual work.
- Hot properties are typed columns; the rest stays in a JSON string read with
  JSONExtract*, so new properties need no schema change.
"""

from analytics.warehouse.migrator import MigrationContext
from analytics.warehouse.schema import EVENT_COLUMNS


def statements(ctx: MigrationContext) -> list[str]:
    columns = [f"`{name}` {ch_type}" for name, (ch_type, _, _) in EVENT_COLUMNS.items()]
    columns.append("`inserted_at` DateTime64(3, 'UTC') DEFAULT now64(3)")
    return ctx.create_table(
        "events",
        columns=columns,
        engine="ReplacingMergeTree(inserted_at)",
        partition_by="toYYYYMM(timestamp)",
        order_by="(project_id, toDate(timestamp), event, event_id)",
        ttl="toDateTime(timestamp) + toIntervalDay(retention_days)",
        indexes=[
            "INDEX idx_distinct_id distinct_id TYPE bloom_filter(0.01) GRANULARITY 4",
            "INDEX idx_event_id event_id TYPE bloom_filter(0.01) GRANULARITY 4",
        ],
        settings={"non_replicated_deduplication_window": 10000, "ttl_only_drop_parts": 0},
        sharding_key="cityHash64(project_id, distinct_id)",
    )
