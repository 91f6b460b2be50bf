"""clickhouse-driver: the native protocol to a ClickHouse server or cluster.

One client per thread (clickhouse-driver clients are not thread-safe), LZ4 compression
when the optional codec is installed, per-query settings such as ``max_execution_time``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pyarrow as pa
from clickhouse_driver import Client
from clickhouse_driver import errors as driver_errors

from analytics.warehouse.errors import StoreQueryError, StoreUnavailable
from analytics.warehouse.transports.base import QueryResult
from analytics.warehouse.transports.chdb_transport import TRANSIENT_ERROR_CODES


def _compression_available() -> bool:
    try:
        import clickhouse_cityhash  # noqa: F401
        import lz4  # noqa: F401
    except ImportError:
        return False
    return True


class NativeTransport:
    name = "native"

    def __init__(self, *, host: str, port: int, user: str, password: str, database: str, secure: bool,
                 query_timeout: int, connect_timeout: int) -> None:
        self.database = database
        self._client_kwargs: dict[str, Any] = {
            "host": host,
            "port": port,
            "user": user,
            "password": password,
            "database": database,
            "secure": secure,
            "connect_timeout": connect_timeout,
            "send_receive_timeout": query_timeout + 5,
            "sync_request_timeout": connect_timeout,
            "compression": "lz4" if _compression_available() else False,
            "settings": {"max_execution_time": query_timeout},
        }
        self._local = threading.local()

    @classmethod
    def from_url(cls, url: str, *, query_timeout: int, connect_timeout: int) -> NativeTransport:
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
        )

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = Client(**self._client_kwargs)
            self._local.client = client
        return client

    def _call(self, function: Any) -> Any:
        try:
            return function(self._client())
        except driver_errors.ServerException as error:
            if error.code in TRANSIENT_ERROR_CODES:
                raise StoreUnavailable(str(error)) from error
            raise StoreQueryError(str(error)) from error
        except (driver_errors.NetworkError, driver_errors.SocketTimeoutError, OSError, EOFError) as error:
            self._drop_client()
            raise StoreUnavailable(f"{type(error).__name__}: {error}") from error
        except driver_errors.Error as error:
            self._drop_client()
            raise StoreQueryError(str(error)) from error

    def _drop_client(self) -> None:
        client = getattr(self._local, "client", None)
        self._local.client = None
        if client is not None:
            client.disconnect()

    def query(self, sql: str, params: Mapping[str, Any], settings: Mapping[str, Any]) -> QueryResult:
        def run(client: Client) -> QueryResult:
            # Server-side parameters ({name:Type}) are passed as query parameters, never formatted.
            rows, columns = client.execute(
                sql, settings={**settings, **_server_params(params)}, with_column_types=True, columnar=True
            )
            names = [name for name, _ in columns]
            if not names:
                return QueryResult(pa.table({}))
            data = rows if rows else [[] for _ in names]
            return QueryResult(pa.table({name: pa.array(list(values)) for name, values in zip(names, data, strict=True)}))

        return self._call(run)

    def command(self, sql: str, settings: Mapping[str, Any] | None = None) -> None:
        self._call(lambda client: client.execute(sql, settings=dict(settings or {})))

    def insert_arrow(self, table: str, data: pa.Table, settings: Mapping[str, Any]) -> None:
        columns = ", ".join(f"`{name}`" for name in data.column_names)
        values = [column.to_pylist() for column in data.columns]
        self._call(
            lambda client: client.execute(
                f"INSERT INTO {table} ({columns}) VALUES", values, columnar=True, settings=dict(settings)
            )
        )

    def close(self) -> None:
        self._drop_client()


def _server_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """clickhouse-driver sends ``param_<name>`` settings as server-side query parameters."""
    return {f"param_{name}": _param_text(value) for name, value in params.items()}


def _param_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quoted(item) for item in value) + "]"
    if hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] if hasattr(value, "hour") else value.isoformat()
    return str(value)


def _quoted(value: Any) -> str:
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
