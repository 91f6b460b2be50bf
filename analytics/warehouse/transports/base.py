"""The transport contract shared by chDB (in-process) and clickhouse-driver (native)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True)
class QueryResult:
    """A query's answer as Arrow; ``rows``/``dicts`` convert on demand."""

    table: pa.Table

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    def rows(self) -> list[tuple[Any, ...]]:
        columns = [column.to_pylist() for column in self.table.columns]
        return list(zip(*columns, strict=True)) if columns else []

    def dicts(self) -> list[dict[str, Any]]:
        return self.table.to_pylist()

    def scalar(self) -> Any:
        if self.table.num_rows == 0 or self.table.num_columns == 0:
            return None
        return self.table.column(0)[0].as_py()

    def __len__(self) -> int:
        return self.table.num_rows


class Transport(Protocol):
    """What the store needs from a connection to ClickHouse."""

    name: str
    database: str

    def query(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> QueryResult:
        """Run a SELECT with server-side parameters (``{name:Type}`` placeholders)."""

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None:
        """Run DDL or another statement without a result."""

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        """Insert an Arrow table; column names must match the target's."""

    def supports_setting(self, name: str) -> bool:
        """Whether the server knows the query-level setting ``name`` (old servers refuse unknown ones)."""

    def close(self) -> None: ...
