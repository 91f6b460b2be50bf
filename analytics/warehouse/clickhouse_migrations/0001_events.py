"""The events table (first form; 0003 and 0004 rebuild it, a new install runs all three).

Today's table, after 0004: a plain MergeTree sorted by (project_id, hour, event) that holds
each event once (identity: project_id, source_id, event_id; duplicates are dropped when
they are written). This module keeps creating the first form, unchanged, so every
installation goes through the same steps. The choices of that first form:
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

# Checksums of earlier texts of this file that differ only in comments (applied stores
# recorded them; the statements are the same, so the migrator does not warn about them).
ACCEPTED_CHECKSUMS = ("6c89029154eba874",)


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
