"""SQL that keeps ``action_user_days`` (migration 0008) equal to the stored events of some users.

The materialised view adds every inserted action; what it cannot see are deletions. After a
user's events are deleted (privacy's forget), their rows are rebuilt: the rows of their
``user_hash`` are deleted, then written again from the events that remain. Both steps are
idempotent, and an action inserted meanwhile is in both the view's rows and the rebuild's
read of ``events``: the result is the set of the remaining events whatever the order.
"""

from __future__ import annotations

from analytics.warehouse.guard import Query

_TYPES = "('CALL_OUT', 'CALL_IN', 'SMS_SENT', 'SMS_RECEIVED', 'DATA')"
_HASHES = "arrayMap(id -> reinterpretAsUInt128(sipHash128(id)), {distinct_ids:Array(String)})"


def _params(project_id: int, distinct_ids: list[str]) -> dict[str, object]:
    return {"project_id": int(project_id), "distinct_ids": list(distinct_ids)}


def users_delete(*, project_id: int, distinct_ids: list[str], cluster: str | None) -> Query:
    """The mutation that deletes every row of these users (waits until done, every replica)."""
    target, on_cluster = ("action_user_days_local", f" ON CLUSTER `{cluster}`") if cluster else ("action_user_days", "")
    return Query(
        name="action_user_days.delete",
        sql=(
            f"ALTER TABLE {target}{on_cluster} DELETE WHERE project_id = {{project_id:UInt64}} "
            f"AND has({_HASHES}, user_hash)"
        ),
        params=_params(project_id, distinct_ids),
        settings={"mutations_sync": 2},
    )


def users_refill(*, project_id: int, distinct_ids: list[str]) -> Query:
    """The rows of these users again, from their events that remain (the view's SELECT)."""
    return Query(
        name="action_user_days.refill",
        sql=(
            "INSERT INTO action_user_days SELECT project_id, toStartOfMonth(timestamp, 'UTC') AS month, event, "
            "reinterpretAsUInt128(sipHash128(distinct_id)) AS user_hash, "
            "groupBitOr(bitShiftLeft(toUInt32(1), toDayOfMonth(timestamp, 'UTC') - 1)) AS days, "
            "max(retention_days) AS retention_days FROM events "
            f"WHERE project_id = {{project_id:UInt64}} AND distinct_id IN {{distinct_ids:Array(String)}} "
            f"AND event IN {_TYPES} GROUP BY project_id, month, event, user_hash"
        ),
        params=_params(project_id, distinct_ids),
    )


def single_part_months_sql() -> str:
    """Which of the UTC months ``{partitions:Array(String)}`` (``YYYYMM``) of
    ``action_user_days`` are one active part (admin query: part counts, no tenant data)."""
    return (
        "SELECT partition_id FROM system.parts "
        "WHERE database = currentDatabase() AND table = 'action_user_days' AND active "
        "AND has({partitions:Array(String)}, partition_id) "
        "GROUP BY partition_id HAVING count() = 1"
    )
