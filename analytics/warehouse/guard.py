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

TENANT_TABLES = ("events", "persons", "person_distinct_ids")

_TABLE_REFERENCE = re.compile(
    r"\b(?:FROM|JOIN)\s+(?:`?[A-Za-z_][A-Za-z0-9_]*`?\.)?`?(" + "|".join(TENANT_TABLES) + r")(?:_local)?`?\b",
    re.IGNORECASE,
)
_PROJECT_PREDICATE = re.compile(r"\bproject_id\s*(?:=|IN)\s*\{project_id\s*:\s*UInt64\s*\}", re.IGNORECASE)

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
    """Raise :class:`UnscopedQueryError` unless every tenant table is project-filtered."""
    references = len(_TABLE_REFERENCE.findall(query.sql))
    if references == 0:
        return
    if "project_id" not in query.params:
        raise UnscopedQueryError(f"query {query.name!r} reads tenant data without a project_id parameter")
    try:
        int(query.params["project_id"])
    except (TypeError, ValueError):
        raise UnscopedQueryError(f"query {query.name!r} has a non-integer project_id") from None
    predicates = len(_PROJECT_PREDICATE.findall(query.sql))
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
