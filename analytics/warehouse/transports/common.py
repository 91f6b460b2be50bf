"""What both transports share: error classification and the SETTINGS clause."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from analytics.warehouse.errors import StoreError, StoreQueryError, StoreUnavailable
from analytics.warehouse.guard import validate_identifier
from analytics.warehouse.params import quote_string

# ClickHouse error codes that describe a passing condition of the server or the cluster
# rather than a bad statement, so the same statement may succeed a moment later.
TRANSIENT_ERROR_CODES = frozenset(
    {
        159,  # TIMEOUT_EXCEEDED
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        203,  # NO_FREE_CONNECTION
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY (replica lost its Keeper session)
        252,  # TOO_MANY_PARTS (inserts faster than merges)
        285,  # TOO_FEW_LIVE_REPLICAS
        319,  # UNKNOWN_STATUS_OF_INSERT
        425,  # SYSTEM_ERROR
        439,  # CANNOT_SCHEDULE_TASK
        473,  # DEADLOCK_AVOIDED
        999,  # KEEPER_EXCEPTION
    }
)
_CODE = re.compile(r"Code: (\d+)")
_SAFE_SETTING = re.compile(r"^[a-z_][a-z0-9_]*$")


def error_code(error: BaseException) -> int | None:
    """The ClickHouse error code in an exception's message, if any."""
    match = _CODE.search(str(error))
    return int(match.group(1)) if match else None


def classify_error_code(code: int | None, message: str) -> StoreError:
    """StoreUnavailable for transient codes, StoreQueryError for everything else."""
    if code in TRANSIENT_ERROR_CODES:
        return StoreUnavailable(message)
    return StoreQueryError(message)


def classify_clickhouse_error(error: BaseException) -> StoreError:
    """Map a ClickHouse error (its ``Code: N`` message) to StoreUnavailable or StoreQueryError."""
    return classify_error_code(error_code(error), str(error))


def setting_literal(value: Any) -> str:
    """A setting value as SQL: numbers as is, text as a quoted, escaped string."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return repr(value)
    return quote_string(str(value))


def settings_clause(settings: Mapping[str, Any]) -> str:
    """``SETTINGS a=1, b='x'``; names must match a strict pattern, values are quoted."""
    parts = []
    for name, value in settings.items():
        if not _SAFE_SETTING.match(name):
            raise StoreQueryError(f"invalid setting name {name!r}")
        parts.append(f"{name}={setting_literal(value)}")
    return ("SETTINGS " + ", ".join(parts)) if parts else ""


def column_list(names: list[str]) -> str:
    """Backtick-quoted, validated column names for an INSERT."""
    return ", ".join(f"`{validate_identifier(name)}`" for name in names)


def table_name(name: str) -> str:
    """A validated table name (``table`` or ``database.table``) for an INSERT."""
    parts = name.split(".")
    if len(parts) > 2 or not all(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", part) for part in parts):
        raise StoreQueryError(f"invalid table name {name!r}")
    return ".".join(f"`{part}`" for part in parts)
