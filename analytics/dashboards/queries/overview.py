"""Numbers of the overview page that the trends engine does not give.

Ranges are half-open ``[start, end)`` of aware UTC datetimes; "users" are distinct
``person_id`` values (identity merges included); every count is of stored events.

- :func:`event_totals`: events, users, and the first and last event time in the range;
- :func:`top_events`: the event names with most events in the range, with their users;
- :func:`events_by_type`: the range's events in five kinds (see :data:`KIND_SQL`);
- :func:`top_users`: the persons with most events, with their last distinct id and last seen;
- :func:`active_users`: DAU, WAU and MAU: distinct persons in the day, 7 days and 30 days
  that end at the range's end;
- :func:`session_stats`: sessions (as the query engine cuts them) and their average length
  (last minus first event) in the range and the period before it.
- :func:`events_today`: events since local midnight of the project's zone.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.core.timeutils import utc_now
from analytics.query.compiler.sessions import SessionRules
from analytics.query.model import DateRange
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store

_RANGE = (
    "project_id = {project_id:UInt64}"
    " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
)
NETWORK_ACTIONS = ("CALL_OUT", "CALL_IN", "SMS_SENT", "SMS_RECEIVED", "DATA")
KIND_SQL = (
    "multiIf(event IN ('$pageview', 'page_view', '$screen'), 'Page views',"
    " event IN ('$identify', '$alias', '$set', '$groupidentify', '$create_alias'), 'Identify',"
    " event IN {network:Array(String)}, 'Network actions',"
    " startsWith(event, '$'), 'Other automatic', 'Custom events')"
)


def _rows(name: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    return get_store().query(Query(name=f"dashboards.{name}", sql=sql, params=params)).dicts()


def event_totals(*, project_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    row = _rows(
        "totals",
        "SELECT count() AS events, uniq(person_id) AS users FROM events WHERE " + _RANGE,
        project_id=project_id,
        start=start,
        end=end,
    )[0]
    return {"events": int(row["events"]), "users": int(row["users"])}


def period_totals(*, project_id: int, current: DateRange, previous: DateRange) -> dict[str, dict[str, int]]:
    """:func:`event_totals` of two adjacent periods (``previous`` ends where ``current``
    starts) in one scan: ``{"current": {...}, "previous": {...}}``."""
    row = _rows(
        "period_totals",
        "SELECT countIf(timestamp >= {middle:DateTime64(3, 'UTC')}) AS events,"
        " uniqIf(person_id, timestamp >= {middle:DateTime64(3, 'UTC')}) AS users,"
        " countIf(timestamp < {middle:DateTime64(3, 'UTC')}) AS previous_events,"
        " uniqIf(person_id, timestamp < {middle:DateTime64(3, 'UTC')}) AS previous_users FROM events WHERE " + _RANGE,
        project_id=project_id,
        start=previous.start,
        end=current.end,
        middle=current.start,
    )[0]
    return {
        "current": {"events": int(row["events"]), "users": int(row["users"])},
        "previous": {"events": int(row["previous_events"]), "users": int(row["previous_users"])},
    }


def has_events(*, project_id: int) -> bool:
    rows = _rows(
        "has_events",
        "SELECT 1 AS one FROM events WHERE project_id = {project_id:UInt64} LIMIT 1",
        project_id=project_id,
    )
    return bool(rows)


def top_events(*, project_id: int, start: datetime, end: datetime, limit: int = 10) -> list[dict[str, Any]]:
    rows = _rows(
        "top_events",
        "SELECT event, count() AS events, uniq(person_id) AS users FROM events WHERE "
        + _RANGE
        + " GROUP BY event ORDER BY events DESC, event LIMIT {limit:UInt32}",
        project_id=project_id,
        start=start,
        end=end,
        limit=limit,
    )
    return [{"event": row["event"], "events": int(row["events"]), "users": int(row["users"])} for row in rows]


def events_by_type(*, project_id: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    rows = _rows(
        "events_by_type",
        f"SELECT {KIND_SQL} AS kind, count() AS events FROM events WHERE "
        + _RANGE
        + " GROUP BY kind ORDER BY events DESC, kind",
        project_id=project_id,
        start=start,
        end=end,
        network=list(NETWORK_ACTIONS),
    )
    return [{"kind": row["kind"], "events": int(row["events"])} for row in rows]


def top_users(*, project_id: int, start: datetime, end: datetime, limit: int = 10) -> list[dict[str, Any]]:
    rows = _rows(
        "top_users",
        "SELECT toString(person_id) AS person, argMax(distinct_id, timestamp) AS distinct_id,"
        " count() AS events, toUnixTimestamp64Milli(max(timestamp)) AS last_ms FROM events WHERE "
        + _RANGE
        + " GROUP BY person_id ORDER BY events DESC, person LIMIT {limit:UInt32}",
        project_id=project_id,
        start=start,
        end=end,
        limit=limit,
    )
    return [
        {
            "person_id": row["person"],
            "distinct_id": row["distinct_id"],
            "events": int(row["events"]),
            "last_seen_ms": int(row["last_ms"]),
        }
        for row in rows
    ]


def active_users(*, project_id: int, end: datetime) -> dict[str, int]:
    row = _rows(
        "active_users",
        "SELECT uniqIf(person_id, timestamp >= {day:DateTime64(3, 'UTC')}) AS dau,"
        " uniqIf(person_id, timestamp >= {week:DateTime64(3, 'UTC')}) AS wau, uniq(person_id) AS mau"
        " FROM events WHERE " + _RANGE,
        project_id=project_id,
        start=end - timedelta(days=30),
        end=end,
        day=end - timedelta(days=1),
        week=end - timedelta(days=7),
    )[0]
    return {"dau": int(row["dau"]), "wau": int(row["wau"]), "mau": int(row["mau"])}


def session_stats(
    *, project_id: int, current: DateRange, previous: DateRange, rules: SessionRules
) -> dict[str, dict[str, Any]]:
    """Sessions and their average length in two periods, ``{"current": {...}, "previous":
    {...}}`` each ``{"sessions", "avg_seconds"}``, in one scan.

    The sessions are those of ``analytics/query/compiler/sessions.py`` (its rules 1 to 3,
    each period cut at its own edges), counted without cutting them one by one: a client
    ``session_id`` is one session; each person's other events, sorted by time, make
    1 + (breaks) sessions, a break being a gap over the timeout or, with the midnight split,
    a change of local date; their lengths sum to the chain's span minus the gaps at breaks.
    """
    sql = (
        "SELECT period, sum(sessions) AS sessions, sum(milliseconds) AS milliseconds FROM ("
        " SELECT period, count() AS sessions, sum(last_ms - first_ms) AS milliseconds FROM ("
        "  SELECT timestamp >= {middle:DateTime64(3, 'UTC')} AS period, session_id,"
        "   min(toUnixTimestamp64Milli(timestamp)) AS first_ms, max(toUnixTimestamp64Milli(timestamp)) AS last_ms"
        "   FROM events WHERE " + _RANGE + " AND session_id != '' GROUP BY period, session_id)"
        " GROUP BY period"
        " UNION ALL"
        " SELECT period, sum(1 + arraySum(breaks)) AS sessions,"
        "  sum(chain[-1] - chain[1] - arraySum(arrayMap((gap, cut) -> if(cut, gap, 0), gaps, breaks))) AS milliseconds"
        " FROM ("
        "  SELECT period, chain, arrayDifference(chain) AS gaps,"
        "   arrayMap((gap, day_step) -> gap > {timeout_ms:Int64} OR ({split:UInt8} = 1 AND day_step != 0),"
        "    gaps, arrayDifference(arrayMap(ms -> toUInt32(toDate(fromUnixTimestamp64Milli(ms, 'UTC'), {tz:String})),"
        "    chain))) AS breaks FROM ("
        "   SELECT timestamp >= {middle:DateTime64(3, 'UTC')} AS period, person_id,"
        "    arraySort(groupArray(toUnixTimestamp64Milli(timestamp))) AS chain"
        "    FROM events WHERE " + _RANGE + " AND session_id = '' GROUP BY period, person_id))"
        " GROUP BY period)"
        " GROUP BY period"
    )
    rows = _rows(
        "sessions",
        sql,
        project_id=project_id,
        start=previous.start,
        end=current.end,
        middle=current.start,
        timeout_ms=rules.timeout_minutes * 60_000,
        split=1 if rules.split_at_midnight else 0,
        tz=rules.time_zone,
    )
    found = {bool(row["period"]): row for row in rows}
    answer: dict[str, dict[str, Any]] = {}
    for name, flag in (("current", True), ("previous", False)):
        row = found.get(flag)
        sessions = int(row["sessions"]) if row else 0
        milliseconds = float(row["milliseconds"]) if row else 0.0
        answer[name] = {"sessions": sessions, "avg_seconds": milliseconds / 1000 / sessions if sessions else 0.0}
    return answer


def events_today(*, project_id: int, time_zone: str, now: datetime | None = None) -> int:
    zone = ZoneInfo(time_zone)
    now = now or utc_now()
    midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return event_totals(project_id=project_id, start=midnight, end=now + timedelta(days=1))["events"]
