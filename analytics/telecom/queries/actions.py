"""ClickHouse SQL of the provider-facing read API (network-action events only).

The action types are constants of this module (never client text); every value travels as
a typed parameter. The measures are read from the properties with ``JSONExtract``, absent
ones as NULL (sums skip them; the selectors turn a NULL sum into 0). One user's reads (the
page and the totals) go to ``network_actions`` (migration 0011: the actions alone, sorted
by user, the measures parsed once on insert with the same extraction); the reads over all
users go to ``events`` and the aggregates built from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from analytics.core.timeutils import to_epoch_ms
from analytics.warehouse.guard import Query

NETWORK_ACTION_TYPES = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
_TYPES_SQL = "(" + ", ".join(f"'{name}'" for name in NETWORK_ACTION_TYPES) + ")"
_RANGE = (
    "timestamp >= fromUnixTimestamp64Milli({start_ms:Int64}, 'UTC') "
    "AND timestamp < fromUnixTimestamp64Milli({end_ms:Int64}, 'UTC')"
)
# One parse of the JSON properties into a named Tuple costs about a third of extracting the
# three keys separately (the aggregation's rollups do the same, aggregation/queries/rollups.py).
_PARSED = (
    "JSONExtract(properties, 'Tuple(duration_sec Nullable(Float64), bytes_up Nullable(Int64), "
    "bytes_down Nullable(Int64))') AS measures"
)
_MEASURES = (
    "sum(tupleElement(measures, 'duration_sec')) AS duration_sec, "
    "sum(tupleElement(measures, 'bytes_up')) AS bytes_up, "
    "sum(tupleElement(measures, 'bytes_down')) AS bytes_down"
)
# The page reads ``network_actions`` (sorted by user, then timestamp) in its own order only
# when the setting lets it: that "read in order" merges the parts' streams row by row and
# took about three times the time of the default read, whose top-K filter on ``timestamp``
# and lazy reading of the wide columns already keep the read short
# (docs/benchmarks/2026-12-03-telecom-detail.md, measured on the projection of the same
# order). A setting, not a change of answer.
_PAGE_SETTINGS = {"optimize_read_in_order": 0}
# The distinct users' SipHash-128 as UInt128: uniqExact's numeric path, the same exact count.
_UNIQUE_USERS = "uniqExact(reinterpretAsUInt128(sipHash128(distinct_id))) AS unique_users"


def _period_sql(period: str) -> str:
    return "toStartOfMonth(timestamp, {tz:String})" if period == "month" else "toDate(timestamp, {tz:String})"


def user_actions_query(
    *, project_id: int, user_id: str, start_ms: int, end_ms: int, limit: int, after: tuple[datetime, str] | None = None
) -> Query:
    """Up to ``limit`` actions of one user in ``[start, end)``, oldest first, after the
    ``after`` cursor (timestamp, event_id)."""
    params: dict[str, object] = {
        "project_id": int(project_id),
        "user_id": user_id,
        "start_ms": int(start_ms),
        "end_ms": int(end_ms),
        "limit": int(limit),
    }
    cursor = ""
    if after is not None:
        params["after_ms"] = to_epoch_ms(after[0])
        params["after_id"] = after[1]
        cursor = " AND (timestamp, event_id) > (fromUnixTimestamp64Milli({after_ms:Int64}, 'UTC'), {after_id:UUID})"
    sql = f"""
SELECT toString(event_id) AS event_id_text, source_id, event, toUnixTimestamp64Milli(timestamp) AS timestamp_ms,
       properties
FROM network_actions
WHERE project_id = {{project_id:UInt64}} AND distinct_id = {{user_id:String}} AND {_RANGE}{cursor}
ORDER BY timestamp, event_id
LIMIT {{limit:UInt32}}
"""
    return Query(name="telecom.user_actions", sql=sql, params=params, settings=_PAGE_SETTINGS)


def user_totals_query(*, project_id: int, user_id: str, start_ms: int, end_ms: int, tz_name: str, period: str) -> Query:
    """One user's totals per local ``period`` and type. Columns: period, event, count, measures.

    The measures are ``network_actions``' columns (migration 0011: the same ``JSONExtract``
    computed once on insert), so this neither reads nor parses the properties."""
    sql = f"""
SELECT {_period_sql(period)} AS period, event, count() AS count,
       sum(duration_sec) AS duration_sec, sum(bytes_up) AS bytes_up, sum(bytes_down) AS bytes_down
FROM network_actions
WHERE project_id = {{project_id:UInt64}} AND distinct_id = {{user_id:String}} AND {_RANGE}
GROUP BY period, event
ORDER BY period, event
"""
    params = {
        "project_id": int(project_id),
        "user_id": user_id,
        "start_ms": int(start_ms),
        "end_ms": int(end_ms),
        "tz": tz_name,
    }
    return Query(name=f"telecom.user_totals.{period}", sql=sql, params=params)


def _ranges_sql(ranges: list[tuple[int, int]], params: dict[str, object], prefix: str = "") -> str:
    """``[start, end)`` pieces as one OR of time ranges (the primary index keeps only their
    hours), their bounds added to ``params`` as typed parameters."""
    pieces = []
    for index, (start_ms, end_ms) in enumerate(ranges):
        low, high = f"{prefix}start_ms_{index}", f"{prefix}end_ms_{index}"
        params[low] = int(start_ms)
        params[high] = int(end_ms)
        pieces.append(
            f"(timestamp >= fromUnixTimestamp64Milli({{{low}:Int64}}, 'UTC') "
            f"AND timestamp < fromUnixTimestamp64Milli({{{high}:Int64}}, 'UTC'))"
        )
    return "(" + " OR ".join(pieces) + ")"


def global_totals_query(*, project_id: int, start_ms: int, end_ms: int, tz_name: str, period: str) -> Query:
    """All users' totals per local ``period`` and type, with unique users."""
    sql = f"""
SELECT {_period_sql(period)} AS period, event, count() AS count, {_MEASURES}, {_UNIQUE_USERS}
FROM (
    SELECT timestamp, event, distinct_id, {_PARSED}
    FROM events
    WHERE project_id = {{project_id:UInt64}} AND event IN {_TYPES_SQL} AND {_RANGE}
)
GROUP BY period, event
ORDER BY period, event
"""
    params = {"project_id": int(project_id), "start_ms": int(start_ms), "end_ms": int(end_ms), "tz": tz_name}
    return Query(name=f"telecom.global_totals.{period}", sql=sql, params=params)


def global_measures_query(*, project_id: int, ranges: list[tuple[int, int]], tz_name: str, period: str) -> Query:
    """All users' count and measures per local ``period`` and type over the ``ranges``
    pieces, without unique users (the pieces of one period are summed with rollups): the
    few minutes at the edges of a range that the rollups do not hold."""
    params: dict[str, object] = {"project_id": int(project_id), "tz": tz_name}
    # Prefixed: composed_read_query runs this next to composed_unique_users_query, whose
    # raw ranges take the unprefixed names.
    where = _ranges_sql(ranges, params, prefix="m_")
    sql = f"""
SELECT {_period_sql(period)} AS period, event, count() AS count, {_MEASURES}
FROM (
    SELECT timestamp, event, {_PARSED}
    FROM events
    WHERE project_id = {{project_id:UInt64}} AND event IN {_TYPES_SQL} AND {where}
)
GROUP BY period, event
ORDER BY period, event
"""
    return Query(name=f"telecom.global_measures.{period}", sql=sql, params=params)


_USER_HASH = "reinterpretAsUInt128(sipHash128(distinct_id))"


@dataclass(frozen=True)
class FoldedUsers:
    """The unique users of one output ``period`` from the folded rows of one UTC ``month``
    of ``action_user_days``: ``mask`` holds the period's whole UTC days, ``edge_mask`` the
    days of its raw ``edges`` (all inside that month)."""

    period: date
    month: date
    mask: int
    edge_mask: int
    edges: list[tuple[int, int]]


def _folded_sql(index: int, folded: FoldedUsers, params: dict[str, object]) -> str:
    """One period's users from one scan of the month's rows merged at read time (``FINAL``:
    one row per type and user, ``days`` OR-ed over the rows not merged yet), without a
    set of all of them: a user counts when their days meet the whole days, or else when
    they are among the edges' users (a small set). Every edge user has a row of that month
    whose days meet ``edge_mask`` (the view writes a bit for each stored action), so the
    rows read (days meeting either mask) hold them all; a user in both counts once."""
    params.update(
        {
            f"f_period_{index}": folded.period,
            f"f_month_{index}": folded.month,
            f"f_mask_{index}": int(folded.mask),
            f"f_reach_{index}": int(folded.mask | folded.edge_mask),
        }
    )
    counted = f"bitAnd(days, {{f_mask_{index}:UInt32}}) != 0"
    if folded.edges:
        where = _ranges_sql(folded.edges, params, prefix=f"f{index}_")
        counted += (
            f" OR (event, user_hash) IN (SELECT event, {_USER_HASH} FROM events "
            f"WHERE project_id = {{project_id:UInt64}} AND event IN {_TYPES_SQL} AND {where})"
        )
    return (
        f"SELECT {{f_period_{index}:Date}} AS period, event, countIf({counted}) AS unique_users "
        f"FROM action_user_days FINAL WHERE project_id = {{project_id:UInt64}} AND month = {{f_month_{index}:Date}} "
        f"AND event IN {_TYPES_SQL} AND bitAnd(days, {{f_reach_{index}:UInt32}}) != 0 GROUP BY event"
    )


def composed_unique_users_query(
    *,
    project_id: int,
    day_sets: list[tuple[date, date, int]],
    ranges: list[tuple[int, int]],
    tz_name: str,
    period: str,
    folded: Sequence[FoldedUsers] = (),
) -> Query:
    """Exact unique users per local ``period`` and type.

    The periods in ``folded`` are counted from merged-at-read rows (``_folded_sql``). The
    others: the users of whole UTC days from ``action_user_days`` (migration 0008) and the
    users of the ``ranges`` pieces raw, one set.

    ``day_sets`` are ``(period, UTC month, mask)``: the rows of that month whose day mask meets
    ``mask`` (bit ``d - 1`` for day ``d``) count for the output ``period``. The table holds
    the same SipHash-128 of ``distinct_id`` as the raw side, so a user found in both counts once.
    """
    params: dict[str, object] = {"project_id": int(project_id), "tz": tz_name}
    parts = []
    for index, (period_start, month, mask) in enumerate(day_sets):
        params.update({f"period_{index}": period_start, f"month_{index}": month, f"mask_{index}": int(mask)})
        parts.append(
            f"SELECT {{period_{index}:Date}} AS period, event, user_hash FROM action_user_days "
            f"WHERE project_id = {{project_id:UInt64}} AND month = {{month_{index}:Date}} AND event IN {_TYPES_SQL} "
            f"AND bitAnd(days, {{mask_{index}:UInt32}}) != 0"
        )
    if ranges:
        where = _ranges_sql(ranges, params)
        parts.append(
            f"SELECT {_period_sql(period)} AS period, event, {_USER_HASH} AS user_hash "
            f"FROM events WHERE project_id = {{project_id:UInt64}} AND event IN {_TYPES_SQL} AND {where}"
        )
    counted = [_folded_sql(index, each, params) for index, each in enumerate(folded)]
    if parts:
        union = "\n        UNION ALL\n        ".join(parts)
        counted.append(
            f"SELECT period, event, uniqExact(user_hash) AS unique_users FROM (\n        {union}\n    ) "
            "GROUP BY period, event"
        )
    # Each period is in one branch only; the outer sum just gathers them.
    branches = "\n    UNION ALL\n    ".join(counted)
    sql = f"""
SELECT period, event, sum(unique_users) AS unique_users
FROM (
    {branches}
)
GROUP BY period, event
ORDER BY period, event
"""
    # ``OR`` then tests the edge set only on the rows whose days miss the whole days (a few
    # thousand of a month's rows); by default ClickHouse evaluates ``IN`` on every row.
    settings = {"short_circuit_function_evaluation": "force_enable"} if folded else {}
    return Query(name=f"telecom.composed_unique_users.{period}", sql=sql, params=params, settings=settings)


RAW_PIECE, USERS_PIECE = "raw", "users"


def composed_read_query(*, measures: Query | None, users: Query | None) -> Query:
    """The raw reads of a composed answer as one query: the minutes' count and measures
    (:func:`global_measures_query`) and the partial buckets' unique users
    (:func:`composed_unique_users_query`), each row tagged with its ``piece`` (``raw`` or
    ``users``). One query instead of two saves a query's fixed cost in the store (parsing,
    planning, thread start-up: 6 to 10 ms on chDB while ``events`` had projections,
    docs/benchmarks/2026-12-03-night-runs.md)."""
    branches: list[str] = []
    params: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    names: list[str] = []
    for piece, query, columns in (
        (RAW_PIECE, measures, "count, duration_sec, bytes_up, bytes_down, toUInt64(0) AS unique_users"),
        (
            USERS_PIECE,
            users,
            "toUInt64(0) AS count, NULL AS duration_sec, NULL AS bytes_up, NULL AS bytes_down, unique_users",
        ),
    ):
        if query is None:
            continue
        for name, value in query.params.items():
            if name in params and params[name] != value:
                raise ValueError(f"composed_read_query: parameter {name!r} differs between the two reads")
            params[name] = value
        settings.update(query.settings or {})
        names.append(query.name)
        branches.append(f"SELECT '{piece}' AS piece, period, event, {columns} FROM ({query.sql})")
    if not branches:
        raise ValueError("composed_read_query needs at least one read")
    sql = "\nUNION ALL\n".join(branches)
    return Query(name="+".join(names), sql=sql, params=params, settings=settings)
