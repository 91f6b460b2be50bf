"""Persons and the distinct ids that point at them.

Both are ReplacingMergeTree by version: identify/alias/merge write a new version of a
row instead of updating in place; reads take the latest version with FINAL.
"""

from analytics.warehouse.migrator import MigrationContext


def statements(ctx: MigrationContext) -> list[str]:
    persons = ctx.create_table(
        "persons",
        columns=[
            "`project_id` UInt64",
            "`person_id` UUID",
            "`properties` String",
            "`created_at` DateTime64(3, 'UTC')",
            "`version` UInt64",
            "`is_deleted` UInt8 DEFAULT 0",
        ],
        engine="ReplacingMergeTree(version)",
        order_by="(project_id, person_id)",
        sharding_key="cityHash64(project_id, person_id)",
    )
    distinct_ids = ctx.create_table(
        "person_distinct_ids",
        columns=[
            "`project_id` UInt64",
            "`distinct_id` String",
            "`person_id` UUID",
            "`version` UInt64",
            "`is_deleted` UInt8 DEFAULT 0",
        ],
        engine="ReplacingMergeTree(version)",
        order_by="(project_id, distinct_id)",
        sharding_key="cityHash64(project_id, distinct_id)",
    )
    return persons + distinct_ids
