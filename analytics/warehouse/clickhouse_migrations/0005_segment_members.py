"""Segment membership: materialised members (versioned) and static members (uploaded ids).

- ``segment_members``: one row per (segment, version, person). The segments app writes a
  whole new version with ``INSERT ... SELECT``, then flips the segment's current version in
  PostgreSQL; readers select only the current version, so a version being written (its
  parts appear one by one) is never seen. Old versions are deleted after the flip.
- ``segment_static_members``: the distinct ids of a static segment, with the person id
  they pointed at when imported. ReplacingMergeTree on (project, segment, distinct id):
  an id uploaded twice collapses on merge; readers select DISTINCT person ids anyway.
"""

from analytics.warehouse.migrator import MigrationContext


def statements(ctx: MigrationContext) -> list[str]:
    members = ctx.create_table(
        "segment_members",
        columns=[
            "`project_id` UInt64",
            "`segment_id` UInt64",
            "`version` UInt64",
            "`person_id` UUID",
        ],
        engine="MergeTree",
        order_by="(project_id, segment_id, version, person_id)",
        sharding_key="cityHash64(project_id, segment_id)",
    )
    static = ctx.create_table(
        "segment_static_members",
        columns=[
            "`project_id` UInt64",
            "`segment_id` UInt64",
            "`distinct_id` String",
            "`person_id` UUID",
            "`imported_at` DateTime64(3, 'UTC') DEFAULT now64(3)",
        ],
        engine="ReplacingMergeTree(imported_at)",
        order_by="(project_id, segment_id, distinct_id)",
        sharding_key="cityHash64(project_id, segment_id)",
    )
    return members + static
