"""clickhouse-driver: the native protocol to a ClickHouse server or cluster.

One client per thread (clickhouse-driver clients are not thread-safe), LZ4 compression
(``lz4`` and ``clickhouse-cityhash`` are pinned in requirements/prod.txt), per-query
settings such as ``max_execution_time``, timeouts on connect and on every read/write.

Query parameters (see :mod:`analytics.warehouse.params` for the encodings):
- server protocol revision >= 54459 (ClickHouse 22.x+): real server-side parameters via
  the driver's ``server_side_params`` client setting (driver 0.2.7+);
- older servers (Debian's 18.16) have no query parameters: the driver would silently drop
  them, so the transport renders each ``{name:Type}`` as ``CAST('<escaped text>' AS Type)``.
The mode is decided per connection from the revision the server reports at handshake.
"""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlparse
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
from clickhouse_driver import Client
from clickhouse_driver import errors as driver_errors

from analytics.core.logging import get_logger
from analytics.warehouse.errors import StoreQueryError, StoreUnavailable
from analytics.warehouse.params import driver_param_value, render_client_side
from analytics.warehouse.transports.base import QueryResult
from analytics.warehouse.transports.common import classify_error_code, column_list, table_name

log = get_logger(__name__)
T = TypeVar("T")

# clickhouse_driver.defines.DBMS_MIN_PROTOCOL_VERSION_WITH_PARAMETERS
MIN_REVISION_WITH_PARAMETERS = 54459


def _compression_available() -> bool:
    try:
        # Optional (requirements/prod.in): an import probe, not a dependency.
        import clickhouse_cityhash  # noqa: F401, PLC0415
        import lz4  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


class NativeTransport:
    name = "native"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str,
        secure: bool,
        query_timeout: int,
        connect_timeout: int,
        compression: bool = True,
    ) -> None:
        self.database = database
        self.host = host
        self.port = port
        if compression and not _compression_available():
            log.warning("store.native.compression_unavailable", reason="lz4/clickhouse-cityhash not installed")
            compression = False
        self._client_kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "database": database,
            "secure": secure,
            "connect_timeout": connect_timeout,
            # A socket read/write may last as long as the server is allowed to work on a query.
            "send_receive_timeout": query_timeout + 5,
            "sync_request_timeout": connect_timeout,
            "compression": "lz4" if compression else False,
            "client_name": "analytics",
            "settings": {"max_execution_time": query_timeout, "server_side_params": True},
        }
        self._local = threading.local()
        self._column_type_cache: dict[str, dict[str, str]] = {}

    @classmethod
    def from_url(cls, url: str, *, query_timeout: int, connect_timeout: int) -> NativeTransport:
        """``clickhouse://user:pass@host:9000/db?compression=0`` (``clickhouses://`` for TLS)."""
        parsed = urlparse(url)
        options = parse_qs(parsed.query)
        secure = parsed.scheme == "clickhouses" or options.get("secure", ["0"])[0] in ("1", "true")
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (9440 if secure else 9000),
            user=unquote(parsed.username or "default"),
            password=unquote(parsed.password or ""),
            database=(parsed.path or "/default").lstrip("/") or "default",
            secure=secure,
            query_timeout=query_timeout,
            connect_timeout=connect_timeout,
            compression=options.get("compression", ["1"])[0] not in ("0", "false"),
        )

    # ------------------------------------------------------------------ connection
    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = Client(**self._client_kwargs)
            self._local.client = client
        if not client.connection.connected:
            # connect(), not force_connect(): the latter marks a query as running, and the
            # server's revision must be known before the first query picks a parameter mode.
            client.connection.connect()
        return client

    def server_side_params(self) -> bool:
        """Whether the connected server takes query parameters (else they are rendered)."""
        revision = self._call(lambda client: client.connection.server_info.used_revision)
        return bool(revision >= MIN_REVISION_WITH_PARAMETERS)

    def server_version(self) -> str:
        info = self._call(lambda client: client.connection.server_info)
        return f"{info.version_major}.{info.version_minor}.{info.version_patch}"

    def _call(self, function: Callable[[Client], T]) -> T:
        try:
            return function(self._client())
        except driver_errors.ServerException as error:
            # The server answered: the connection is intact and stays in use.
            raise classify_error_code(error.code, str(error)) from error
        except (driver_errors.NetworkError, driver_errors.SocketTimeoutError, OSError, EOFError) as error:
            self._drop_client()
            raise StoreUnavailable(f"{type(error).__name__}: {error}") from error
        except (driver_errors.Error, TypeError, ValueError, struct.error, AttributeError) as error:
            # A failure half-way through a packet leaves the connection in an unknown state.
            self._drop_client()
            raise StoreQueryError(f"{type(error).__name__}: {error}") from error

    def _drop_client(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            client.disconnect()

    # ------------------------------------------------------------------ statements
    def query(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> QueryResult:
        def run(client: Client) -> QueryResult:
            if client.connection.server_info.used_revision >= MIN_REVISION_WITH_PARAMETERS:
                values = {name: driver_param_value(value, name=name) for name, value in params.items()}
                rows, columns = client.execute(
                    sql, values, settings=dict(settings), with_column_types=True, columnar=True
                )
            else:
                rows, columns = client.execute(
                    render_client_side(sql, params), settings=dict(settings), with_column_types=True, columnar=True
                )
            return QueryResult(_to_arrow(columns, rows))

        return self._call(run)

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None:
        self._call(lambda client: client.execute(sql, settings=dict(settings or {})))

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        statement = f"INSERT INTO {table_name(table)} ({column_list(data.column_names)}) VALUES"
        target_types = self._column_types(table) if _has_timestamps(data) else {}
        # Columnar: one Python list per column, which the driver packs column by column.
        values = [
            _column_values(column, target_types.get(name))
            for name, column in zip(data.column_names, data.columns, strict=True)
        ]
        try:
            self._call(lambda client: client.execute(statement, values, columnar=True, settings=dict(settings)))
        except StoreQueryError:
            self._column_type_cache.pop(table, None)  # the table may have changed under us
            raise

    def supports_setting(self, name: str) -> bool:
        result = self.query("SELECT count() FROM system.settings WHERE name = {name:String}", {"name": name}, {})
        return bool(result.scalar())

    def _column_types(self, table: str) -> dict[str, str]:
        """ClickHouse types of a table's columns (cached): a timestamp is sent as an integer
        in the column's own precision, which spares the driver a datetime per value."""
        cached = self._column_type_cache.get(table)
        if cached is None:
            database, _, name = table.rpartition(".")
            result = self.query(
                "SELECT name, type FROM system.columns WHERE database = "
                + ("{database:String}" if database else "currentDatabase()")
                + " AND table = {table:String}",
                {"table": name, **({"database": database} if database else {})},
                {},
            )
            cached = {str(column): str(ch_type) for column, ch_type in result.rows()}
            self._column_type_cache[table] = cached
        return cached

    def close(self) -> None:
        self._drop_client()


# ---------------------------------------------------------------------- Arrow to insert values
_DATETIME64 = re.compile(r"^DateTime64\((\d)")
_UNIT_BY_SCALE = {0: "s", 3: "ms", 6: "us", 9: "ns"}


def _has_timestamps(data: pa.Table) -> bool:
    return any(pa.types.is_timestamp(field.type) for field in data.schema)


def _column_values(column: pa.ChunkedArray, target_type: str | None) -> list[Any]:
    """One column as the Python list the driver packs.

    A timestamp column whose target is DateTime or DateTime64(0|3|6|9) becomes integers in
    that precision (the driver writes integers as they are); converting each value to an
    aware datetime and back costs more than the rest of the insert together.
    """
    if target_type is not None and pa.types.is_timestamp(column.type):
        while match := _WRAPPER.match(target_type):
            target_type = match.group(1)
        scale: int | None = None
        if target_type.startswith("DateTime64"):
            precision = _DATETIME64.match(target_type)
            scale = int(precision.group(1)) if precision else 3
        elif target_type.startswith("DateTime"):
            scale = 0
        if scale in _UNIT_BY_SCALE:
            unit = _UNIT_BY_SCALE[scale]
            return pc.cast(pc.cast(column, pa.timestamp(unit), safe=False), pa.int64()).to_pylist()
    return column.to_pylist()


# ---------------------------------------------------------------------- results as Arrow
_WRAPPER = re.compile(r"^(?:Nullable|LowCardinality)\((.*)\)$")
_SIMPLE_TYPES: dict[str, pa.DataType] = {
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "String": pa.string(),
    "Date": pa.date32(),
    "Date32": pa.date32(),
    "UUID": pa.uuid(),
    "Bool": pa.bool_(),
    "Nothing": pa.null(),
}


def _arrow_type(ch_type: str) -> pa.DataType | None:
    """The Arrow type for a ClickHouse type name, or None to let Arrow infer it."""
    while match := _WRAPPER.match(ch_type):
        ch_type = match.group(1)
    if ch_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[ch_type]
    if ch_type.startswith("DateTime64"):
        return pa.timestamp("ms", tz="UTC")
    if ch_type.startswith("DateTime"):
        return pa.timestamp("s", tz="UTC")
    if ch_type.startswith("Array(") and ch_type.endswith(")"):
        inner = _arrow_type(ch_type[6:-1])
        return pa.list_(inner) if inner is not None else None
    return None


def _to_arrow_values(arrow_type: pa.DataType | None, values: Sequence[Any]) -> Sequence[Any]:
    if arrow_type == pa.uuid():
        return [value.bytes if isinstance(value, UUID) else value for value in values]
    if isinstance(arrow_type, pa.ListType) and arrow_type.value_type == pa.uuid():
        return [[item.bytes if isinstance(item, UUID) else item for item in value] for value in values]
    return values


def _to_arrow(columns: list[tuple[str, str]], data: list[Sequence[Any]]) -> pa.Table:
    """The driver's columnar answer as an Arrow table with the types chDB would give."""
    if not columns:
        return pa.table({})
    arrays = []
    for index, (_, ch_type) in enumerate(columns):
        values = list(data[index]) if data else []
        arrow_type = _arrow_type(ch_type)
        arrays.append(pa.array(_to_arrow_values(arrow_type, values), type=arrow_type))
    return pa.Table.from_arrays(arrays, names=[name for name, _ in columns])
