"""The tenant guard: every query against tenant tables must be filtered by project.

Queries are built in ``queries/`` modules as (sql, params). Before any SQL reaches
ClickHouse the store checks that each reference to a tenant table is matched by a
``project_id = {project_id:UInt64}`` predicate and that a ``project_id`` parameter is
given. Values are always parameters; identifiers (property names) must match
:data:`IDENTIFIER_PATTERN` and are quoted by :func:`quote_identifier`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analytics.warehouse.errors import InvalidIdentifier, UnscopedQueryError

TENANT_TABLES = (
    "events",
    "persons",
    "person_distinct_ids",
    "segment_members",
    "segment_static_members",
    "action_user_days",
    "network_actions",
)
# A materialised segment's members loaded in a ``Set``-engine table (``person_id IN
# segment_set_<project>_<segment>_<version>``, analytics/segments/sets.py). It holds one
# project's members only, and the name carries that project: a reference is accepted only
# when the name's project is the query's ``project_id`` parameter.
SEGMENT_SET_PREFIX = "segment_set_"
_SEGMENT_SET_REFERENCE = re.compile(r"\b" + SEGMENT_SET_PREFIX + r"(\d+)_\d+_\d+\b", re.IGNORECASE)

_QUOTE = '[`"]?'
# A tenant table after FROM, JOIN, TABLE (ALTER TABLE ... DELETE) or a comma (comma joins),
# optionally database-qualified and quoted; ``events_local`` (cluster mode) counts too.
_TABLE_REFERENCE = re.compile(
    r"(?:\b(?:FROM|JOIN|TABLE)|,)\s*(?:"
    + _QUOTE
    + r"[A-Za-z_][A-Za-z0-9_]*"
    + _QUOTE
    + r"\.)?"
    + _QUOTE
    + r"("
    + "|".join(TENANT_TABLES)
    + r")(?:_local)?"
    + _QUOTE
    + r"(?![A-Za-z0-9_])",
    re.IGNORECASE,
)
_PROJECT_PREDICATE = re.compile(r"\bproject_id\s*(?:=|IN)\s*\{project_id\s*:\s*UInt64\s*\}", re.IGNORECASE)
# String literals and comments are removed before checking, so a predicate written inside
# a comment or a string does not count as a filter.
_LITERALS_AND_COMMENTS = re.compile(r"'(?:[^'\\]|\\.|'')*'|--[^\n]*|#[^\n]*|/\*.*?\*/", re.DOTALL)


def _code_only(sql: str) -> str:
    return _LITERALS_AND_COMMENTS.sub(" ", sql)


IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.\-]{0,199}$")


@dataclass(frozen=True)
class Query:
    """A named, parameterised ClickHouse query for one project.

    ``name`` labels the metrics; ``params`` must include ``project_id``.
    """

    name: str
    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)


def check_scoped(query: Query) -> None:
    """Raise :class:`UnscopedQueryError` unless every tenant table is project-filtered.

    A seatbelt for the SQL our ``queries/`` modules build, not a SQL parser: it counts
    tenant-table references (FROM/JOIN/TABLE/comma) outside literals and comments and
    requires as many ``project_id = {project_id:UInt64}`` predicates. A segment set
    (``segment_set_<project>_...``) must be the ``project_id`` parameter's. It cannot prove a
    predicate is not OR-ed away; the query modules' snapshot tests cover that.
    """
    code = _code_only(query.sql)
    references = len(_TABLE_REFERENCE.findall(code))
    set_projects = {int(project) for project in _SEGMENT_SET_REFERENCE.findall(code)}
    if references == 0 and not set_projects:
        return
    if "project_id" not in query.params:
        raise UnscopedQueryError(f"query {query.name!r} reads tenant data without a project_id parameter")
    try:
        project_id = int(query.params["project_id"])
    except (TypeError, ValueError):
        raise UnscopedQueryError(f"query {query.name!r} has a non-integer project_id") from None
    if set_projects - {project_id}:
        raise UnscopedQueryError(f"query {query.name!r} reads another project's segment set")
    predicates = len(_PROJECT_PREDICATE.findall(code))
    if predicates < references:
        raise UnscopedQueryError(
            f"query {query.name!r} reads {references} tenant table reference(s) "
            f"but filters only {predicates} by project_id = {{project_id:UInt64}}"
        )


def validate_identifier(name: str) -> str:
    """Return ``name`` if it is a safe property/column name, else raise InvalidIdentifier."""
    if not isinstance(name, str) or not IDENTIFIER_PATTERN.match(name):
        raise InvalidIdentifier(f"invalid identifier {name!r}: use letters, digits, _ $ . - (max 200)")
    return name


def quote_identifier(name: str) -> str:
    """Backtick-quote a validated identifier for use as a column alias or name."""
    return "`" + validate_identifier(name) + "`"
