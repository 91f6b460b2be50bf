"""ClickHouse SQL of the privacy app: one person's rows in events, persons and identities.

A person is addressed by the set of their distinct ids and the set of person ids those ids
were ever mapped to (an event's ``person_id`` is derived from its own distinct id at
ingestion; merges write new mappings). Every statement is scoped by
``project_id = {project_id:UInt64}`` and takes the ids as typed array parameters.

Deletes are ``ALTER TABLE ... DELETE`` mutations with ``mutations_sync = 2`` (wait for every
replica): unlike a lightweight ``DELETE FROM``, which only masks rows until a merge, a
mutation rewrites the parts, so the data is gone from disk when the statement returns.
On a cluster they run ``ON CLUSTER`` against the ``_local`` tables that hold the rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from analytics.query.compiler.params import Params
from analytics.query.compiler.sessions import SessionRules, sessions_sql
from analytics.warehouse.guard import Query

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)  # ingestion accepts nothing later
SESSION_EXPORT_COLUMNS = (
    "session_key",
    "session_id",
    "start_ms",
    "end_ms",
    "duration_seconds",
    "event_count",
    "pageviews",
    "entry_url",
    "exit_url",
    "referrer",
    "country",
    "browser",
    "os",
    "device_type",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)


@dataclass(frozen=True)
class PersonScope:
    """A person as the store knows them: every distinct id of the group and every person id."""

    project_id: int
    distinct_ids: list[str]
    person_ids: list[str]


_PERSON_EVENTS = (
    "project_id = {project_id:UInt64} AND "
    "(distinct_id IN {distinct_ids:Array(String)} OR person_id IN {person_ids:Array(UUID)})"
)
_PERSON_ROWS = "project_id = {project_id:UInt64} AND person_id IN {person_ids:Array(UUID)}"
_IDENTITY_ROWS = (
    "project_id = {project_id:UInt64} AND "
    "(distinct_id IN {distinct_ids:Array(String)} OR person_id IN {person_ids:Array(UUID)})"
)
_WHERE = {"events": _PERSON_EVENTS, "persons": _PERSON_ROWS, "person_distinct_ids": _IDENTITY_ROWS}
MUTATION_SETTINGS = {"mutations_sync": 2}


def _params(scope: PersonScope) -> dict[str, object]:
    return {
        "project_id": int(scope.project_id),
        "distinct_ids": list(scope.distinct_ids),
        "person_ids": list(scope.person_ids),
    }


def touched_minutes(scope: PersonScope) -> Query:
    """The distinct minutes (epoch seconds) in which the person has events: every rollup
    bucket they contribute to contains one of them, whatever the granularity."""
    return Query(
        name="privacy.touched_minutes",
        sql=(
            "SELECT DISTINCT toUInt32(toUnixTimestamp(toStartOfMinute(timestamp))) AS minute "
            f"FROM events WHERE {_PERSON_EVENTS} ORDER BY minute"
        ),
        params=_params(scope),
    )


def event_distinct_ids(scope: PersonScope) -> Query:
    """The distinct ids of the person's events: the group's own, and any other id whose events
    carry one of the person ids (those events are deleted too)."""
    return Query(
        name="privacy.event_distinct_ids",
        sql=f"SELECT DISTINCT distinct_id FROM events WHERE {_PERSON_EVENTS}",
        params=_params(scope),
    )


def delete_rows(scope: PersonScope, *, table: str, cluster: str | None) -> Query:
    """The mutation that deletes the person's rows of ``table`` (events, persons, identities)."""
    where = _WHERE[table]  # KeyError for anything but the three tenant tables
    target, on_cluster = (f"{table}_local", f" ON CLUSTER `{cluster}`") if cluster else (table, "")
    return Query(
        name=f"privacy.delete.{table}",
        sql=f"ALTER TABLE {target}{on_cluster} DELETE WHERE {where}",
        params=_params(scope),
        settings=MUTATION_SETTINGS,
    )


def remaining_rows(scope: PersonScope) -> Query:
    """How many rows of the person each table still holds: events, persons, identities, and
    the network actions of the person's distinct ids (``network_actions`` has no person id;
    after a forget their events are gone, so must their copies be)."""
    return Query(
        name="privacy.remaining",
        sql=(
            f"SELECT (SELECT count() FROM events WHERE {_PERSON_EVENTS}) AS events_left, "
            "(SELECT count() FROM network_actions WHERE project_id = {project_id:UInt64} "
            "AND distinct_id IN {distinct_ids:Array(String)}) AS network_actions_left, "
            f"(SELECT count() FROM persons WHERE {_PERSON_ROWS}) AS persons_left, "
            f"(SELECT count() FROM person_distinct_ids WHERE {_IDENTITY_ROWS}) AS identities_left"
        ),
        params=_params(scope),
    )


def identity_rows(scope: PersonScope) -> Query:
    """Every distinct id stored with any of the person ids (any version): the whole group."""
    return Query(
        name="privacy.identities",
        sql=(
            "SELECT DISTINCT distinct_id, toString(person_id) AS person "
            f"FROM person_distinct_ids WHERE {_IDENTITY_ROWS} ORDER BY distinct_id"
        ),
        params=_params(scope),
    )


EXPORT_EVENT_COLUMNS = (
    "event_id",
    "event",
    "distinct_id",
    "person_id",
    "session_id",
    "timestamp",
    "received_at",
    "source_id",
    "lib",
    "lib_version",
    "properties",
    "url",
    "referrer",
    "browser",
    "browser_version",
    "os",
    "os_version",
    "device_type",
    "country",
    "ip",
    "revenue",
)


def export_events(scope: PersonScope, *, limit: int) -> Query:
    """The person's events, oldest first, at most ``limit`` (the caller asks for one more to
    know whether the export is complete). Times as epoch milliseconds.

    Converted columns get aliases with an ``export_`` prefix: an alias named like a column
    would replace that column in the WHERE clause (ClickHouse substitutes aliases).
    """
    columns = ", ".join(
        f"toUnixTimestamp64Milli({name}) AS export_{name}"
        if name in ("timestamp", "received_at")
        else f"toString({name}) AS export_{name}"
        if name in ("event_id", "person_id")
        else name
        for name in EXPORT_EVENT_COLUMNS
    )
    return Query(
        name="privacy.export.events",
        sql=f"SELECT {columns} FROM events WHERE {_PERSON_EVENTS} ORDER BY timestamp, event_id LIMIT {{limit:UInt32}}",
        params={**_params(scope), "limit": int(limit)},
    )


def export_persons(scope: PersonScope) -> Query:
    """The latest version of each person row (properties, creation time, merged-away flag)."""
    return Query(
        name="privacy.export.persons",
        sql=(
            "SELECT toString(person_id) AS person, argMax(properties, version) AS latest_properties, "
            "toUnixTimestamp64Milli(min(created_at)) AS created_at_ms, argMax(is_deleted, version) AS merged "
            f"FROM persons WHERE {_PERSON_ROWS} GROUP BY person_id ORDER BY person_id"
        ),
        params=_params(scope),
    )


def export_sessions(scope: PersonScope, rules: SessionRules) -> Query:
    """The person's sessions, cut as every report cuts them (``query/compiler/sessions.py``,
    the project's rules) from the person's events of all time, oldest first."""
    params = Params(project_id=int(scope.project_id), start=_EPOCH, end=_FAR_FUTURE)
    where = (
        f"distinct_id IN {params.add(list(scope.distinct_ids), 'Array(String)')}"
        f" OR person_id IN {params.add(list(scope.person_ids), 'Array(UUID)')}"
    )
    columns = ", ".join(SESSION_EXPORT_COLUMNS)
    sql = f"SELECT {columns} FROM ({sessions_sql(params, rules, where=where)}) ORDER BY start_ms, session_key"
    return Query(name="privacy.export.sessions", sql=sql, params=params.values)
