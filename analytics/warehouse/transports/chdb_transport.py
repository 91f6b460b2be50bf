"""chDB: ClickHouse in-process. One process owns a data directory (chDB's rule).

Queries return Arrow directly; inserts hand an Arrow table to ClickHouse through the
``Python()`` table function, so rows never pass through a text format. Query parameters
go through chDB's ``params=`` as ClickHouse server-side parameters
(see :mod:`analytics.warehouse.params`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa
from chdb import session

from analytics.core.logging import get_logger
from analytics.warehouse.errors import StoreQueryError, StoreUnavailable
from analytics.warehouse.params import chdb_params
from analytics.warehouse.transports.base import QueryResult
from analytics.warehouse.transports.common import (
    TRANSIENT_ERROR_CODES,
    classify_clickhouse_error,
    column_list,
    settings_clause,
    table_name,
)

log = get_logger(__name__)

# Below this many rows an insert streams Arrow IPC bytes (``send_insert``); above it, it
# runs INSERT ... SELECT FROM Python(table), which reads the Arrow buffers in place. The
# table function pays a fixed planning cost per insert, which dominates small batches; the
# IPC stream is serialised and parsed per row, which dominates large ones. The embedded
# batch writer's flushes are small, the consumer's per-partition batches large: each gets
# the cheaper path.
STREAMING_INSERT_MAX_ROWS = 10_000

__all__ = ["TRANSIENT_ERROR_CODES", "ChdbTransport", "classify_clickhouse_error", "settings_clause"]


class ChdbTransport:
    name = "chdb"

    def __init__(self, path: str, *, query_timeout: int) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        self.path = path
        self.database = "default"
        # Two sessions on the one data directory: queries and commands on the first, inserts
        # on the second. A session runs one statement at a time (ClickHouse parallelises
        # inside it), so with one session a long rollup query held up every insert behind
        # it, and in embedded mode every event POST waiting for its insert; with two, an
        # insert runs while a query does instead of waiting for it to finish.
        self._session = session.Session(path)
        self._lock = threading.Lock()
        self._insert_session = session.Session(path)
        self._insert_lock = threading.Lock()
        for each in (self._session, self._insert_session):
            each.query(f"SET max_execution_time={int(query_timeout)}")

    @classmethod
    def from_url(cls, url: str, *, query_timeout: int) -> ChdbTransport:
        parsed = urlparse(url)
        path = (parsed.netloc + parsed.path) or "var/chdb"
        return cls(path, query_timeout=query_timeout)

    def _execute(self, sql: str, fmt: str = "CSV", params: Mapping[str, Any] | None = None) -> Any:
        # chDB raises ChdbError (a RuntimeError) carrying ClickHouse's "Code: N" message.
        encoded = chdb_params(params) if params else None
        with self._lock:
            try:
                return self._session.query(sql, fmt, params=encoded)
            except RuntimeError as error:
                self._drain(self._session)
                raise classify_clickhouse_error(error) from error
            except (OSError, pa.ArrowException) as error:
                # The result buffer was unreadable (see _drain); the statement itself may be fine.
                self._drain(self._session)
                raise StoreUnavailable(f"chDB returned an unreadable result: {error}") from error

    @staticmethod
    def _drain(chdb_session: Any) -> None:
        """Absorb what a failed query left behind in the session (caller holds its lock).

        chDB 4.4: when a query fails while streaming its result (e.g. TIMEOUT_EXCEEDED
        half-way through an Arrow answer), the NEXT query of the session returns the
        leftover bytes instead of its own answer ("Invalid flatbuffers message"). One
        throwaway query consumes them; on a clean session it just answers 1.
        """
        try:
            chdb_session.query("SELECT 1", "CSV")
        except Exception:  # the leftover is expected to fail to decode
            log.info("store.chdb.drained_leftover_result")

    def query(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> QueryResult:
        if settings:
            sql = f"{sql}\n{settings_clause(settings)}"
        table = self._execute(sql, "ArrowTable", params)
        if not isinstance(table, pa.Table):  # an empty answer comes back as an empty result object
            table = pa.table({})
        return QueryResult(table)

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None:
        if settings:
            sql = f"{sql}\n{settings_clause(settings)}"
        self._execute(sql)

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        head = f"INSERT INTO {table_name(table)} ({column_list(data.column_names)}) {settings_clause(settings)}"
        with self._insert_lock:
            try:
                if data.num_rows < STREAMING_INSERT_MAX_ROWS:
                    self._insert_streaming(head, data)
                else:
                    # The Python() table function finds `arrow_batch` among the calling frames' locals.
                    arrow_batch = data  # noqa: F841
                    self._insert_session.query(
                        f"{head} SELECT {column_list(data.column_names)} FROM Python(arrow_batch)"
                    )
            except RuntimeError as error:
                self._drain(self._insert_session)
                raise classify_clickhouse_error(error) from error
            except (OSError, pa.ArrowException) as error:  # the table could not be serialised
                self._drain(self._insert_session)
                raise StoreQueryError(f"chDB insert failed before reaching ClickHouse: {error}") from error

    def supports_setting(self, name: str) -> bool:
        return True  # chDB is a current ClickHouse

    def _insert_streaming(self, head: str, data: pa.Table) -> None:
        """A streaming insert of the table as Arrow IPC bytes (caller holds the insert lock)."""
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, data.schema) as writer:
            writer.write_table(data)
        inserter = self._insert_session.send_insert(head, "ArrowStream")
        try:
            inserter.append(memoryview(sink.getvalue()))
            inserter.finish()
        except BaseException:
            try:
                inserter.cancel()  # else the session refuses every later query
            except Exception:  # the original error is the one to report
                log.warning("store.chdb.insert_cancel_failed")
            raise

    def close(self) -> None:
        try:
            with self._insert_lock:
                self._insert_session.close()
        finally:
            with self._lock:
                self._session.close()
