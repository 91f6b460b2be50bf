"""chDB: ClickHouse in-process. One process owns a data directory (chDB's rule).

Queries return Arrow directly; inserts hand an Arrow table to ClickHouse through the
``Python()`` table function, so rows never pass through a text format.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa

from analytics.warehouse.errors import StoreQueryError, StoreUnavailable
from analytics.warehouse.transports.base import QueryResult

# ClickHouse error codes that describe a passing condition rather than a bad statement.
TRANSIENT_ERROR_CODES = {159, 202, 203, 209, 210, 236, 241, 242, 252, 425, 999}
_CODE = re.compile(r"Code: (\d+)")
_SAFE_SETTING = re.compile(r"^[a-z_][a-z0-9_]*$")


def classify_clickhouse_error(error: Exception) -> Exception:
    """Map a ClickHouse error message to StoreUnavailable or StoreQueryError."""
    match = _CODE.search(str(error))
    code = int(match.group(1)) if match else None
    if code in TRANSIENT_ERROR_CODES:
        return StoreUnavailable(str(error))
    return StoreQueryError(str(error))


def settings_clause(settings: Mapping[str, Any]) -> str:
    """``SETTINGS a=1, b='x'`` for an INSERT; names and values are checked, never pasted raw."""
    parts = []
    for name, value in settings.items():
        if not _SAFE_SETTING.match(name):
            raise StoreQueryError(f"invalid setting name {name!r}")
        if isinstance(value, bool):
            literal = "1" if value else "0"
        elif isinstance(value, int | float):
            literal = repr(value)
        else:
            literal = "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
        parts.append(f"{name}={literal}")
    return ("SETTINGS " + ", ".join(parts)) if parts else ""


class ChdbTransport:
    name = "chdb"

    def __init__(self, path: str, *, query_timeout: int) -> None:
        from chdb import session

        Path(path).mkdir(parents=True, exist_ok=True)
        self.path = path
        self.database = "default"
        self._session = session.Session(path)
        # chDB sessions are not safe for concurrent use; ClickHouse parallelises inside a query.
        self._lock = threading.Lock()
        self._session.query(f"SET max_execution_time={int(query_timeout)}")

    @classmethod
    def from_url(cls, url: str, *, query_timeout: int) -> ChdbTransport:
        parsed = urlparse(url)
        path = (parsed.netloc + parsed.path) or "var/chdb"
        return cls(path, query_timeout=query_timeout)

    def query(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> QueryResult:
        if settings:
            sql = f"{sql}\n{settings_clause(settings)}"
        try:
            with self._lock:
                table = self._session.query(sql, "ArrowTable", params=dict(params) if params else None)
        except RuntimeError as error:
            raise classify_clickhouse_error(error) from error
        if not isinstance(table, pa.Table):  # an empty answer comes back as an empty result object
            table = pa.table({})
        return QueryResult(table)

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None:
        if settings:
            sql = f"{sql}\n{settings_clause(settings)}"
        try:
            with self._lock:
                self._session.query(sql)
        except RuntimeError as error:
            raise classify_clickhouse_error(error) from error

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        columns = ", ".join(f"`{name}`" for name in data.column_names)
        # The Python() table function finds `arrow_batch` among this frame's locals.
        arrow_batch = data  # noqa: F841
        sql = f"INSERT INTO {table} ({columns}) {settings_clause(settings)} SELECT {columns} FROM Python(arrow_batch)"
        try:
            with self._lock:
                self._session.query(sql)
        except RuntimeError as error:
            raise classify_clickhouse_error(error) from error

    def close(self) -> None:
        with self._lock:
            self._session.close()
