"""SQL that keeps ``network_actions`` (migration 0011) equal to the stored events of some users.

The materialised view copies every inserted action; what it cannot see are deletions. After
a user's events are deleted (privacy's forget), their rows are rebuilt like those of
``action_user_days``: deleted, then written again from the events that remain. An action
inserted between the two steps is written by the view and, if the refill's read of
``events`` sees it too, skipped by the refill (it adds only the actions the table lacks),
so the table ends up with each remaining action once whatever the order.
"""

from __future__ import annotations

from analytics.warehouse.guard import Query

_TYPES = "('CALL_OUT', 'CALL_IN', 'SMS_SENT', 'SMS_RECEIVED', 'DATA')"
_MEASURES_TYPE = "Tuple(duration_sec Nullable(Float64), bytes_up Nullable(Int64), bytes_down Nullable(Int64))"
_KEPT = "project_id, distinct_id, timestamp, event, event_id, source_id, properties, retention_days"
_USERS = "project_id = {project_id:UInt64} AND distinct_id IN {distinct_ids:Array(String)}"


def _params(project_id: int, distinct_ids: list[str]) -> dict[str, object]:
    return {"project_id": int(project_id), "distinct_ids": list(distinct_ids)}


def users_delete(*, project_id: int, distinct_ids: list[str], cluster: str | None) -> Query:
    """The mutation that deletes every row of these users (waits until done, every replica)."""
    target, on_cluster = ("network_actions_local", f" ON CLUSTER `{cluster}`") if cluster else ("network_actions", "")
    return Query(
        name="network_actions.delete",
        sql=f"ALTER TABLE {target}{on_cluster} DELETE WHERE {_USERS}",
        params=_params(project_id, distinct_ids),
        settings={"mutations_sync": 2},
    )


def users_refill(*, project_id: int, distinct_ids: list[str], cluster: str | None) -> Query:
    """The actions of these users that remain in ``events`` and are missing here (the
    view's SELECT, migration 0011)."""
    scope = "GLOBAL " if cluster else ""
    return Query(
        name="network_actions.refill",
        sql=(
            f"INSERT INTO network_actions ({_KEPT}, duration_sec, bytes_up, bytes_down) "
            f"SELECT {_KEPT}, tupleElement(measures, 'duration_sec') AS duration_sec, "
            "tupleElement(measures, 'bytes_up') AS bytes_up, tupleElement(measures, 'bytes_down') AS bytes_down "
            f"FROM (SELECT {_KEPT}, JSONExtract(properties, '{_MEASURES_TYPE}') AS measures FROM events "
            f"WHERE {_USERS} AND event IN {_TYPES} AND (event_id, source_id) {scope}NOT IN "
            f"(SELECT event_id, source_id FROM network_actions WHERE {_USERS}))"
        ),
        params=_params(project_id, distinct_ids),
    )
