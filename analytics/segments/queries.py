"""ClickHouse SQL of the segments app: membership tables, sizes, member pages.

Every statement is project-scoped (``project_id = {project_id:UInt64}`` on every table it
reads) and takes values only as parameters.
"""

from __future__ import annotations

from analytics.query.compiler.params import Params
from analytics.warehouse.guard import SEGMENT_SET_PREFIX, Query

MEMBERS_TABLE = "segment_members"
STATIC_TABLE = "segment_static_members"
# Loaded sets are built under this name, then renamed into place (EXCHANGE) when replacing one.
SET_REBUILD_PREFIX = "segment_set_rebuild_"


def materialised_members_sql(*, segment_id: int, version: int, params: Params) -> str:
    segment = params.add(segment_id, "UInt64")
    version_ = params.add(version, "UInt64")
    return (
        f"SELECT person_id FROM {MEMBERS_TABLE} WHERE project_id = {{project_id:UInt64}}"
        f" AND segment_id = {segment} AND version = {version_}"
    )


def static_members_sql(*, segment_id: int, params: Params) -> str:
    """The imported ids' persons: as imported, and as the ids map now (merged since)."""
    segment = params.add(segment_id, "UInt64")
    ids = f"SELECT distinct_id FROM {STATIC_TABLE} WHERE project_id = {{project_id:UInt64}} AND segment_id = {segment}"
    return (
        f"SELECT person_id FROM (SELECT person_id FROM {STATIC_TABLE}"
        f" WHERE project_id = {{project_id:UInt64}} AND segment_id = {segment}"
        " UNION ALL SELECT argMax(person_id, version) AS current_person FROM person_distinct_ids"
        f" WHERE project_id = {{project_id:UInt64}} AND distinct_id IN ({ids})"
        " GROUP BY distinct_id HAVING argMax(is_deleted, version) = 0)"
    )


def size_query(members_sql: str, params: Params) -> Query:
    return Query(
        name="segments.size",
        sql=f"SELECT uniqExact(person_id) AS size FROM ({members_sql})",
        params=params.values,
    )


def materialise_statement(*, segment_id: int, version: int, members_sql: str, params: Params) -> Query:
    """Write every member under ``version`` (not yet current: readers never see it)."""
    segment = params.add(segment_id, "UInt64")
    version_ = params.add(version, "UInt64")
    return Query(
        name="segments.materialise",
        sql=f"INSERT INTO {MEMBERS_TABLE} (project_id, segment_id, version, person_id)"
        f" SELECT DISTINCT {{project_id:UInt64}}, {segment}, {version_}, person_id FROM ({members_sql})",
        params=params.values,
    )


def version_size_query(*, project_id: int, segment_id: int, version: int | None) -> Query:
    """Rows of one version of a segment's membership (``version`` None: of every version)."""
    where = " AND version = {version:UInt64}" if version is not None else ""
    return Query(
        name="segments.version_size",
        sql=f"SELECT count() FROM {MEMBERS_TABLE} WHERE project_id = {{project_id:UInt64}}"
        " AND segment_id = {segment_id:UInt64}" + where,
        params={"project_id": project_id, "segment_id": segment_id}
        | ({"version": version} if version is not None else {}),
    )


def delete_versions_statement(
    *, project_id: int, segment_id: int, below: int | None = None, keep: int | None = None
) -> Query:
    """Drop a segment's versions older than ``below`` (None: every version) but ``keep``
    (the current one); a mutation, asynchronous. Never a version above: one may be being
    written."""
    where, params = "", {"project_id": project_id, "segment_id": segment_id}
    if below is not None:
        where, params["below"] = where + " AND version < {below:UInt64}", below
    if keep is not None:
        where, params["keep"] = where + " AND version != {keep:UInt64}", keep
    return Query(
        name="segments.delete_versions",
        sql=f"ALTER TABLE {MEMBERS_TABLE} DELETE WHERE project_id = {{project_id:UInt64}}"
        " AND segment_id = {segment_id:UInt64}" + where,
        params=params,
    )


def delete_version_statement(*, project_id: int, segment_id: int, version: int) -> Query:
    """Drop one version (written, never made current: no reader can have taken it)."""
    return Query(
        name="segments.delete_version",
        sql=f"ALTER TABLE {MEMBERS_TABLE} DELETE WHERE project_id = {{project_id:UInt64}}"
        " AND segment_id = {segment_id:UInt64} AND version = {version:UInt64}",
        params={"project_id": project_id, "segment_id": segment_id, "version": version},
    )


def delete_static_statement(*, project_id: int, segment_id: int) -> Query:
    return Query(
        name="segments.delete_static",
        sql=f"ALTER TABLE {STATIC_TABLE} DELETE WHERE project_id = {{project_id:UInt64}}"
        " AND segment_id = {segment_id:UInt64}",
        params={"project_id": project_id, "segment_id": segment_id},
    )


def members_page_query(
    members_sql: str, params: Params, *, after: str | None, limit: int | None, static_segment_id: int | None = None
) -> Query:
    """One page of members ordered by person id, with properties, a distinct id (the latest
    one seen on their events, else for a static segment an imported one) and the last event
    time; ``after`` is the last person id of the previous page; ``limit`` None is every
    member (the CSV export: one pass over the events instead of one per page)."""
    cursor = f" AND person_id > {params.add(after, 'UUID')}" if after else ""
    limit_sql = f" LIMIT {params.add(limit, 'UInt32')}" if limit is not None else ""
    page = f"SELECT DISTINCT person_id FROM ({members_sql}) WHERE 1{cursor} ORDER BY person_id{limit_sql}"
    distinct_id, static_join = "e.distinct_id", ""
    if static_segment_id is not None:
        distinct_id = "coalesce(e.distinct_id, s.static_distinct_id)"
        static_join = (
            " LEFT JOIN (SELECT person_id AS sid, any(distinct_id) AS static_distinct_id"
            f" FROM {STATIC_TABLE} WHERE project_id = {{project_id:UInt64}}"
            f" AND segment_id = {params.add(static_segment_id, 'UInt64')}"
            " AND person_id IN (SELECT person_id FROM page) GROUP BY person_id) AS s ON s.sid = m.person_id"
        )
    sql = (
        f"WITH page AS ({page}) "
        "SELECT toString(m.person_id) AS person_id, p.properties AS properties,"
        f" {distinct_id} AS distinct_id, toUnixTimestamp64Milli(e.last_seen) AS last_seen_ms"
        " FROM page AS m"
        " LEFT JOIN (SELECT person_id AS pid, properties FROM persons FINAL"
        " WHERE project_id = {project_id:UInt64} AND is_deleted = 0 AND person_id IN (SELECT person_id FROM page))"
        " AS p ON p.pid = m.person_id"
        " LEFT JOIN (SELECT person_id AS eid, argMax(distinct_id, timestamp) AS distinct_id,"
        " max(timestamp) AS last_seen FROM events"
        " WHERE project_id = {project_id:UInt64} AND person_id IN (SELECT person_id FROM page) GROUP BY person_id)"
        f" AS e ON e.eid = m.person_id{static_join}"
        " ORDER BY m.person_id"
    )
    return Query(name="segments.members", sql=sql, params=params.values, settings={"join_use_nulls": 1})


# Waited for: a forgotten person's rows must be gone from disk when the call returns.
FORGET_SETTINGS = {"mutations_sync": 2}


def person_rows_query(*, table: str, project_id: int, person_ids: list[str], distinct_ids: list[str]) -> Query:
    """How many rows of one person (their person ids, or for static members their ids) a
    membership table holds."""
    where = _person_where(table)
    return Query(
        name="segments.person_rows",
        sql=f"SELECT count() FROM {table} WHERE {where}",
        params={"project_id": project_id, "person_ids": person_ids, "distinct_ids": distinct_ids},
    )


def forget_person_statement(*, table: str, project_id: int, person_ids: list[str], distinct_ids: list[str]) -> Query:
    where = _person_where(table)
    return Query(
        name="segments.forget_person",
        sql=f"ALTER TABLE {table} DELETE WHERE {where}",
        params={"project_id": project_id, "person_ids": person_ids, "distinct_ids": distinct_ids},
        settings=FORGET_SETTINGS,
    )


def _person_where(table: str) -> str:
    person = "project_id = {project_id:UInt64} AND (person_id IN {person_ids:Array(UUID)}"
    if table == STATIC_TABLE:
        return person + " OR distinct_id IN {distinct_ids:Array(String)})"
    if table == MEMBERS_TABLE:
        return person + ")"
    raise ValueError(f"not a membership table: {table}")


# ---------------------------------------------------------------------- loaded sets
# A materialised version's members in a ``Set``-engine table (analytics/segments/sets.py):
# ``segment_set_<project>_<segment>_<version>``. Names are built from integers only; DDL
# takes no parameters, so they are pasted.
def set_name(*, project_id: int, segment_id: int, version: int) -> str:
    return f"{SEGMENT_SET_PREFIX}{int(project_id)}_{int(segment_id)}_{int(version)}"


def rebuild_name(name: str) -> str:
    return SET_REBUILD_PREFIX + name.removeprefix(SEGMENT_SET_PREFIX)


# A set holds the members' ``person_key`` (``events.person_key``, migration 0010: this very
# expression, MATERIALIZED) when no non-member shares a member's key, else their ``person_id``;
# the column's name says which, and is what a filter compares with it.
PERSON_KEY_SQL = "sipHash64(person_id)"
SET_COLUMNS = {"person_key": "UInt64", "person_id": "UUID"}


def create_set_statement(name: str, column: str = "person_key") -> str:
    return f"CREATE TABLE IF NOT EXISTS {name} ({column} {SET_COLUMNS[column]}) ENGINE = Set"


def drop_set_statement(name: str) -> str:
    return f"DROP TABLE IF EXISTS {name} SYNC"


def exchange_statement(name: str, other: str) -> str:
    return f"EXCHANGE TABLES {name} AND {other}"


def fill_set_statement(
    *, name: str, project_id: int, segment_id: int, version: int, column: str = "person_key"
) -> Query:
    """Every member row of one version into a set (``name`` is that set or its rebuild), as
    keys or as UUIDs (``column``, the set's)."""
    value = PERSON_KEY_SQL if column == "person_key" else "person_id"
    return Query(
        name="segments.fill_set",
        sql=f"INSERT INTO {name} SELECT {value} FROM {MEMBERS_TABLE} WHERE project_id = {{project_id:UInt64}}"
        " AND segment_id = {segment_id:UInt64} AND version = {version:UInt64}",
        params={"project_id": project_id, "segment_id": segment_id, "version": version},
    )


def key_collision_query(*, name: str, project_id: int, segment_id: int, version: int) -> Query:
    """Whether some event of the project belongs to a person outside the version whose
    ``person_key`` is a member's (``name``: the version's set of keys). Any such event would
    be counted by ``person_key IN <set>``, so that set must not be used. Every event of the
    project is read (a report may cover any range): about 1 s per 10M events."""
    return Query(
        name="segments.key_collision",
        sql="SELECT count() > 0 FROM events WHERE project_id = {project_id:UInt64}"
        f" AND person_key IN {name} AND person_id NOT IN (SELECT person_id FROM {MEMBERS_TABLE}"
        " WHERE project_id = {project_id:UInt64} AND segment_id = {segment_id:UInt64}"
        " AND version = {version:UInt64})",
        params={"project_id": project_id, "segment_id": segment_id, "version": version},
    )


def set_exists_query(*, project_id: int, name: str) -> Query:
    return Query(name="segments.set_exists", sql=f"EXISTS TABLE {name}", params={"project_id": project_id})


def set_column_query(*, project_id: int, name: str) -> Query:
    """The column of a set (``person_key`` or ``person_id``); no row when it does not exist."""
    return Query(
        name="segments.set_column",
        sql="SELECT name FROM system.columns WHERE database = currentDatabase() AND table = {name:String}",
        params={"project_id": project_id, "name": name},
    )


def sets_query(*, project_id: int, segment_id: int | None = None) -> Query:
    """Names of the project's loaded sets (of one segment), with their leftover rebuilds."""
    scope = f"{int(project_id)}_" + (f"{int(segment_id)}_" if segment_id is not None else "")
    return Query(
        name="segments.sets",
        sql="SELECT name FROM system.tables WHERE database = currentDatabase()"
        " AND (startsWith(name, {current:String}) OR startsWith(name, {rebuild:String})) ORDER BY name",
        params={"current": SEGMENT_SET_PREFIX + scope, "rebuild": SET_REBUILD_PREFIX + scope},
    )
