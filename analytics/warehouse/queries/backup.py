"""SQL of the embedded store's backup and restore (chDB: files on this machine).

Table names come from ``system.tables`` and are checked against a strict pattern; file
paths come from the operator's command line and must be absolute, without quotes or
backslashes, because ``INTO OUTFILE`` and ``FROM INFILE`` take only literals.
"""

from __future__ import annotations

import re
from pathlib import Path

from analytics.warehouse.errors import StoreQueryError

_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_COLUMN = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$.]{0,200}$")
_UNSAFE_PATH = re.compile(r"['\\\x00-\x1f]")
# Views hold no rows; they are recreated after the tables.
VIEW_ENGINES = ("View", "MaterializedView", "LiveView", "WindowView")
# Derived in-memory tables that cannot be read back (a segment's loaded Set is built from
# segment_members; the segments app falls back to those rows and rebuilds it on refresh).
DERIVED_ENGINES = ("Set", "Join")
COMPRESSION = "zstd"


def checked_table(name: str) -> str:
    if not _TABLE.match(name):
        raise StoreQueryError(f"unexpected table name {name!r}")
    return name


def checked_path(path: Path) -> str:
    text = str(path)
    if not path.is_absolute() or _UNSAFE_PATH.search(text):
        raise StoreQueryError(f"backup paths must be absolute, without quotes or backslashes: {text!r}")
    return text


def tables() -> str:
    """Name, engine and DDL of every table of the current database (not the derived
    ones), tables before views."""
    return (
        "SELECT name, engine, create_table_query FROM system.tables "
        f"WHERE database = currentDatabase() AND NOT is_temporary AND engine NOT IN {DERIVED_ENGINES!r} "
        f"ORDER BY engine IN {VIEW_ENGINES!r}, name"
    )


def dump(table: str, path: Path) -> str:
    """Every row of ``table`` (merged or not, no FINAL) into a compressed Native file."""
    return (
        f"SELECT * FROM `{checked_table(table)}` INTO OUTFILE '{checked_path(path)}' "
        f"COMPRESSION '{COMPRESSION}' FORMAT Native"
    )


def columns() -> str:
    """Name and type of the columns a dump holds, in order (``{table:String}``): those of ``SELECT *``,
    so without the ``MATERIALIZED`` and ``ALIAS`` ones (computed again when the rows are loaded)."""
    return (
        "SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = {table:String} "
        "AND default_kind NOT IN ('MATERIALIZED', 'ALIAS', 'EPHEMERAL') ORDER BY position"
    )


def file_rows(path: Path, structure: list[tuple[str, str]]) -> str:
    """Rows in a dump file. The structure is given: an empty Native file carries none."""
    described = ", ".join(f"`{checked_column(name)}` {column_type}" for name, column_type in structure)
    literal = described.replace("\\", "\\\\").replace("'", "\\'")
    # The compression follows from the .zst extension.
    return f"SELECT count() FROM file('{checked_path(path)}', 'Native', '{literal}')"


def checked_column(name: str) -> str:
    if not _COLUMN.match(name):
        raise StoreQueryError(f"unexpected column name {name!r}")
    return name


def table_rows(table: str) -> str:
    return f"SELECT count() FROM `{checked_table(table)}`"


def drop(table: str) -> str:
    return f"DROP TABLE IF EXISTS `{checked_table(table)}` SYNC"


def load(table: str, path: Path) -> str:
    """The rows of a dump, as they were: no deduplication, no collapsing at insert."""
    return (
        f"INSERT INTO `{checked_table(table)}` FROM INFILE '{checked_path(path)}' COMPRESSION '{COMPRESSION}' "
        "SETTINGS insert_deduplicate = 0, optimize_on_insert = 0 FORMAT Native"
    )
