"""Numbers of the overview page that the trends engine does not give.

Ranges are half-open ``[start, end)`` of aware UTC datetimes; "users" are distinct
``person_id`` values (identity merges included); every count is of stored events.

- :func:`event_totals`: events and users in the range; :func:`event_count`: events only;
- :func:`key_numbers`: events and users of the range and of the period before it, and
  DAU, WAU and MAU: distinct persons in the day, 7 days and 30 days that end at a moment;
- :func:`event_breakdown`: the event names with most events in the range, with their
  users, and the range's events in five kinds (see :data:`KIND_SQL`);
- :func:`top_users`: the persons with most events, with their last distinct id and last seen;
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


def event_count(*, project_id: int, start: datetime, end: datetime) -> int:
    """Events in the range (a bare count: no person column read)."""
    rows = _rows(
        "count", "SELECT count() AS events FROM events WHERE " + _RANGE, project_id=project_id, start=start, end=end
    )
    return int(rows[0]["events"])


def key_numbers(
    *, project_id: int, current: DateRange, previous: DateRange, active_end: datetime
) -> dict[str, dict[str, int]]:
    """The key-numbers card's counts in one scan: ``{"current": {"events", "users"},
    "previous": {"events", "users"}, "active": {"dau", "wau", "mau"}}``.

    ``current`` and ``previous`` as in :func:`event_totals`; DAU, WAU and MAU are the
    distinct persons of the day, 7 days and 30 days that end at ``active_end``. The scan
    covers the smallest range holding all five windows, and each figure is a conditional
    aggregate over its own window, so every figure equals the one a scan of its window
    alone gives (``uniq`` depends only on the set of values it sees).
    """
    windows = {
        "cur": (current.start, current.end),
        "prev": (previous.start, previous.end),
        "day": (active_end - timedelta(days=1), active_end),
        "week": (active_end - timedelta(days=7), active_end),
        "month": (active_end - timedelta(days=30), active_end),
    }
    params: dict[str, Any] = {}
    for name, (window_start, window_end) in windows.items():
        params[f"{name}_start"], params[f"{name}_end"] = window_start, window_end
    condition = {name: _window_condition(name) for name in windows}
    row = _rows(
        "key_numbers",
        f"SELECT countIf({condition['cur']}) AS events, uniqIf(person_id, {condition['cur']}) AS users,"
        f" countIf({condition['prev']}) AS previous_events, uniqIf(person_id, {condition['prev']}) AS previous_users,"
        f" uniqIf(person_id, {condition['day']}) AS dau, uniqIf(person_id, {condition['week']}) AS wau,"
        f" uniqIf(person_id, {condition['month']}) AS mau FROM events WHERE " + _RANGE,
        project_id=project_id,
        start=min(start for start, _ in windows.values()),
        end=max(end for _, end in windows.values()),
        **params,
    )[0]
    return {
        "current": {"events": int(row["events"]), "users": int(row["users"])},
        "previous": {"events": int(row["previous_events"]), "users": int(row["previous_users"])},
        "active": {"dau": int(row["dau"]), "wau": int(row["wau"]), "mau": int(row["mau"])},
    }


def _window_condition(name: str) -> str:
    return f"timestamp >= {{{name}_start:DateTime64(3, 'UTC')}} AND timestamp < {{{name}_end:DateTime64(3, 'UTC')}}"


def has_events(*, project_id: int) -> bool:
    rows = _rows(
        "has_events",
        "SELECT 1 AS one FROM events WHERE project_id = {project_id:UInt64} LIMIT 1",
        project_id=project_id,
    )
    return bool(rows)


def event_breakdown(
    *, project_id: int, start: datetime, end: datetime, limit: int = 10
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The top ``limit`` event names (events and users, most events first, ties by name)
    and the range's events in kinds (see :data:`KIND_SQL`; most events first, ties by
    kind), from one ``GROUP BY event`` scan: the kind is a function of the name, so the
    kinds' totals are sums over the names' groups (window sums over the grouped rows), and
    only the top names and one row per kind leave the server."""
    rows = _rows(
        "event_breakdown",
        "SELECT event, kind, name_events, users, kind_events, name_rank, kind_rank FROM ("
        " SELECT event, kind, name_events, users, sum(name_events) OVER (PARTITION BY kind) AS kind_events,"
        "  row_number() OVER (ORDER BY name_events DESC, event) AS name_rank,"
        "  row_number() OVER (PARTITION BY kind ORDER BY name_events DESC, event) AS kind_rank FROM ("
        f"  SELECT event, {KIND_SQL} AS kind, count() AS name_events, uniq(person_id) AS users FROM events WHERE "
        + _RANGE
        + "  GROUP BY event))"
        " WHERE name_rank <= {limit:UInt32} OR kind_rank = 1 ORDER BY name_rank",
        project_id=project_id,
        start=start,
        end=end,
        limit=limit,
        network=list(NETWORK_ACTIONS),
    )
    top = [
        {"event": row["event"], "events": int(row["name_events"]), "users": int(row["users"])}
        for row in rows
        if int(row["name_rank"]) <= limit
    ]
    kinds = sorted(
        ({"kind": row["kind"], "events": int(row["kind_events"])} for row in rows if int(row["kind_rank"]) == 1),
        key=lambda item: (-item["events"], item["kind"]),
    )
    return top, kinds


def top_users(*, project_id: int, start: datetime, end: datetime, limit: int = 10) -> list[dict[str, Any]]:
    """The ``limit`` persons with most events in the range (ties by the person's id as
    text), with their events, last event time and the distinct id of that last event.

    The inner query ranks persons by a bare ``count()`` (only ``person_id`` read, no string
    per group): the top ``limit`` counts and every person tying with the last of them
    (``WITH TIES``), then the id-as-text tie break on those few. The outer query reads the
    distinct id and time of only those persons' events.
    """
    rows = _rows(
        "top_users",
        "SELECT toString(person_id) AS person, argMax(distinct_id, timestamp) AS distinct_id,"
        " count() AS events, toUnixTimestamp64Milli(max(timestamp)) AS last_ms FROM events WHERE "
        + _RANGE
        + " AND person_id IN (SELECT person_id FROM ("
        "  SELECT person_id, count() AS events FROM events WHERE "
        + _RANGE
        + "  GROUP BY person_id ORDER BY events DESC LIMIT {limit:UInt32} WITH TIES)"
        " ORDER BY events DESC, toString(person_id) LIMIT {limit:UInt32})"
        " GROUP BY person_id ORDER BY events DESC, person",
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
    return event_count(project_id=project_id, start=midnight, end=now + timedelta(days=1))
