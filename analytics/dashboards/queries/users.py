"""One user's data for the user page: who they are, what they did, and when.

A user is addressed by a distinct id. It resolves to a person (``person_distinct_ids``
FINAL, the latest version, not deleted; else the person of the newest event with that
distinct id). The user's events are those of the person id or of any of the person's
distinct ids, so events sent before an identify merge are included.

- :func:`user_profile`: the person's properties, distinct ids, first and last seen, totals;
- :func:`user_timeline`: events newest first, a page at a time; the cursor is the
  ``(timestamp ms, event id)`` of the last row shown, and the next page holds strictly
  older rows in that order, so no row is skipped or repeated;
- :func:`user_totals`: events per day or month in the project's zone;
- :func:`user_sessions`: the user's sessions as the query engine cuts them, newest first;
- :func:`telecom_usage`: for network actions (``CALL_OUT``, ``CALL_IN``, ``SMS_SENT``,
  ``SMS_RECEIVED``, ``DATA``): count, seconds (``duration_sec``) and bytes
  (``bytes_up`` + ``bytes_down``) per action type and day or month.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from analytics.core.timeutils import utc_now
from analytics.dashboards.queries.overview import NETWORK_ACTIONS
from analytics.query.compiler.params import Params
from analytics.query.compiler.sessions import SessionRules, sessions_sql
from analytics.warehouse.guard import Query
from analytics.warehouse.store import get_store

_USER = (
    "project_id = {project_id:UInt64} AND (person_id = {person:UUID} OR distinct_id IN ("
    "SELECT distinct_id FROM person_distinct_ids FINAL WHERE project_id = {project_id:UInt64}"
    " AND person_id = {person:UUID} AND is_deleted = 0))"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUCKETS = {"day": "toStartOfDay(timestamp, {tz:String})", "month": "toStartOfMonth(timestamp, {tz:String})"}


def _rows(name: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    return get_store().query(Query(name=f"dashboards.user.{name}", sql=sql, params=params)).dicts()


def resolve_person(*, project_id: int, distinct_id: str) -> str | None:
    """The person id (text) behind a distinct id, or None when the project never saw it."""
    rows = _rows(
        "resolve",
        "SELECT toString(person_id) AS person FROM person_distinct_ids FINAL WHERE project_id = {project_id:UInt64}"
        " AND distinct_id = {distinct_id:String} AND is_deleted = 0 LIMIT 1",
        project_id=project_id,
        distinct_id=distinct_id,
    )
    if rows:
        return str(rows[0]["person"])
    rows = _rows(
        "resolve_events",
        "SELECT toString(person_id) AS person FROM events WHERE project_id = {project_id:UInt64}"
        " AND distinct_id = {distinct_id:String} ORDER BY timestamp DESC LIMIT 1",
        project_id=project_id,
        distinct_id=distinct_id,
    )
    return str(rows[0]["person"]) if rows else None


def user_profile(*, project_id: int, person_id: str) -> dict[str, Any]:
    props = _rows(
        "properties",
        "SELECT properties FROM persons FINAL WHERE project_id = {project_id:UInt64} AND person_id = {person:UUID}"
        " AND is_deleted = 0 LIMIT 1",
        project_id=project_id,
        person=person_id,
    )
    properties: dict[str, Any] = {}
    if props:
        try:
            loaded = orjson.loads(props[0]["properties"] or "{}")
            properties = loaded if isinstance(loaded, dict) else {}
        except orjson.JSONDecodeError:
            properties = {}
    row = _rows(
        "summary",
        "SELECT count() AS events, toUnixTimestamp64Milli(min(timestamp)) AS first_ms,"
        " toUnixTimestamp64Milli(max(timestamp)) AS last_ms, groupUniqArray(20)(distinct_id) AS distinct_ids,"
        " argMax(browser, timestamp) AS browser, argMax(os, timestamp) AS os, argMax(country, timestamp) AS country,"
        " countIf(event IN {network:Array(String)}) AS network_events FROM events WHERE " + _USER,
        project_id=project_id,
        person=person_id,
        network=list(NETWORK_ACTIONS),
    )[0]
    return {
        "person_id": person_id,
        "properties": dict(sorted(properties.items())),
        "events": int(row["events"]),
        "first_seen_ms": int(row["first_ms"]) if int(row["events"]) else None,
        "last_seen_ms": int(row["last_ms"]) if int(row["events"]) else None,
        "distinct_ids": sorted(row["distinct_ids"]),
        "browser": row["browser"],
        "os": row["os"],
        "country": row["country"],
        "network_events": int(row["network_events"]),
    }


def user_timeline(
    *, project_id: int, person_id: str, before: tuple[int, str] | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    cursor = ""
    params: dict[str, Any] = {"project_id": project_id, "person": person_id, "limit": limit}
    if before is not None:
        cursor = (
            " AND (toUnixTimestamp64Milli(timestamp) < {before_ms:Int64} OR (toUnixTimestamp64Milli(timestamp)"
            " = {before_ms:Int64} AND toString(event_id) < {before_id:String}))"
        )
        params.update(before_ms=before[0], before_id=before[1])
    rows = _rows(
        "timeline",
        "SELECT toString(event_id) AS event_id, event, distinct_id, toUnixTimestamp64Milli(timestamp) AS ms, url,"
        " session_id, properties FROM events WHERE "
        + _USER
        + cursor
        + " ORDER BY timestamp DESC, event_id DESC LIMIT {limit:UInt32}",
        **params,
    )
    answer = []
    for row in rows:
        try:
            properties = orjson.loads(row["properties"] or "{}")
        except orjson.JSONDecodeError:
            properties = {}
        if isinstance(properties, dict):  # "$" properties are the event's own columns (url, browser, ...)
            properties = {key: value for key, value in properties.items() if not str(key).startswith("$")}
        answer.append(
            {
                "event_id": row["event_id"],
                "event": row["event"],
                "distinct_id": row["distinct_id"],
                "ms": int(row["ms"]),
                "url": row["url"],
                "session_id": row["session_id"],
                "properties": properties if isinstance(properties, dict) else {},
            }
        )
    return answer


def user_totals(*, project_id: int, person_id: str, interval: str, time_zone: str) -> list[dict[str, Any]]:
    bucket = BUCKETS[interval]  # our own constant, chosen by dictionary lookup
    rows = _rows(
        f"totals_{interval}",
        f"SELECT toString(toDate({bucket})) AS bucket, count() AS events FROM events WHERE "
        + _USER
        + " GROUP BY bucket ORDER BY bucket DESC LIMIT 400",
        project_id=project_id,
        person=person_id,
        tz=time_zone,
    )
    return [{"bucket": row["bucket"], "events": int(row["events"])} for row in rows]


def user_sessions(*, project_id: int, person_id: str, rules: SessionRules, limit: int = 20) -> list[dict]:
    """The user's latest sessions, cut by the query engine's rules over all their events."""
    params = Params(project_id=project_id, start=_EPOCH, end=utc_now() + timedelta(days=1), person=person_id)
    mine = _USER.replace("project_id = {project_id:UInt64} AND ", "", 1)
    cut = sessions_sql(params, rules, where=mine, attributes=["person_id"])
    sql = (
        "SELECT start_ms, duration_seconds, event_count, pageviews, path(entry_url) AS entry_page"
        f" FROM ({cut}) ORDER BY start_ms DESC LIMIT {{limit:UInt32}}"
    )
    rows = _rows("sessions", sql, **params.values, limit=limit)
    return [
        {
            "start_ms": int(row["start_ms"]),
            "seconds": float(row["duration_seconds"]),
            "events": int(row["event_count"]),
            "pageviews": int(row["pageviews"]),
            "entry_page": row["entry_page"],
        }
        for row in rows
    ]


def telecom_usage(*, project_id: int, person_id: str, interval: str, time_zone: str) -> list[dict[str, Any]]:
    bucket = BUCKETS[interval]
    rows = _rows(
        f"telecom_{interval}",
        f"SELECT toString(toDate({bucket})) AS bucket, event AS action, count() AS actions,"
        " sum(ifNull(JSONExtract(properties, 'duration_sec', 'Nullable(Float64)'), 0)) AS seconds,"
        " sum(ifNull(JSONExtract(properties, 'bytes_up', 'Nullable(Float64)'), 0)"
        " + ifNull(JSONExtract(properties, 'bytes_down', 'Nullable(Float64)'), 0)) AS bytes"
        " FROM events WHERE " + _USER + " AND event IN {network:Array(String)}"
        " GROUP BY bucket, action ORDER BY bucket DESC, action LIMIT 2000",
        project_id=project_id,
        person=person_id,
        tz=time_zone,
        network=list(NETWORK_ACTIONS),
    )
    return [
        {
            "bucket": row["bucket"],
            "action": row["action"],
            "actions": int(row["actions"]),
            "seconds": float(row["seconds"]),
            "bytes": float(row["bytes"]),
        }
        for row in rows
    ]
