"""Numbers of the overview page that the trends engine does not give.

Ranges are half-open ``[start, end)`` of aware UTC datetimes; "users" are distinct
``person_id`` values (identity merges included); every count is of stored events.

- :func:`event_totals`: events, users, and the first and last event time in the range;
- :func:`top_events`: the event names with most events in the range, with their users;
- :func:`events_by_type`: the range's events in five kinds (see :data:`KIND_SQL`);
- :func:`top_users`: the persons with most events, with their last distinct id and last seen;
- :func:`active_users`: DAU, WAU and MAU: distinct persons in the day, 7 days and 30 days
  that end at the range's end;
- :func:`session_stats`: sessions and their average length. A session is the events of
  one client-sent ``session_id``; events without one are split per person wherever the gap
  to the person's previous event exceeds the timeout. Its length is last minus first event.
- :func:`events_today`: events since local midnight of the project's zone.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from analytics.core.timeutils import utc_now
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


def session_stats(*, project_id: int, start: datetime, end: datetime, timeout_minutes: int = 30) -> dict[str, Any]:
    sql = (
        "SELECT count() AS sessions, avg(length) AS avg_seconds FROM ("
        " SELECT session_key, dateDiff('second', min(timestamp), max(timestamp)) AS length FROM ("
        "  SELECT timestamp, if(session_id != '', concat('s:', session_id), concat('p:', toString(person_id),"
        "   ':', toString(sum(starts) OVER (PARTITION BY person_id ORDER BY timestamp"
        "   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)))) AS session_key FROM ("
        "   SELECT person_id, session_id, timestamp, if(dateDiff('second', lagInFrame(timestamp, 1, timestamp)"
        "    OVER (PARTITION BY person_id ORDER BY timestamp ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), timestamp)"
        "    > {gap:UInt32}, 1, 0) AS starts FROM events WHERE " + _RANGE + "))"
        " GROUP BY session_key)"
    )
    row = _rows("sessions", sql, project_id=project_id, start=start, end=end, gap=max(1, int(timeout_minutes)) * 60)[0]
    sessions = int(row["sessions"])
    average = row["avg_seconds"]
    return {"sessions": sessions, "avg_seconds": float(average) if sessions and average == average else 0.0}


def events_today(*, project_id: int, time_zone: str, now: datetime | None = None) -> int:
    zone = ZoneInfo(time_zone)
    now = now or utc_now()
    midnight = datetime.combine(now.astimezone(zone).date(), time(0), tzinfo=zone)
    return event_totals(project_id=project_id, start=midnight, end=now + timedelta(days=1))["events"]
