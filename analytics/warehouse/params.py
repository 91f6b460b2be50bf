"""Query parameter values: one normalisation, three encodings (one per way they reach ClickHouse).

SQL names a value with a ``{name:Type}`` placeholder; the value never becomes SQL text
that ClickHouse parses as code. How the value travels depends on the transport:

- chDB: ``session.query(sql, params=...)`` takes each value as ClickHouse's *escaped text*
  of the value (the ``param_<name>`` format of the HTTP interface): a String is
  TSV-escaped, an Array is its quoted literal ``['a','b']``. :func:`chdb_param_text`.
- clickhouse-driver against a server with protocol revision >= 54459 (ClickHouse 22.x and
  later): the driver's ``server_side_params`` mode sends the values in the protocol's
  parameter block, escaping each Python ``str``/``int``/``list`` itself. We hand it values
  normalised by :func:`driver_param_value` (times pre-formatted with milliseconds, UUIDs
  as text), so the server receives the same escaped text chDB gets.
- clickhouse-driver against an older server (Debian's 18.16) that has no query parameters
  at all: :func:`render_client_side` replaces each placeholder with
  ``CAST('<text>' AS Type)``: the value's text (an Array as its quoted literal) inside a
  string literal with every backslash, quote and control character escaped, which the
  server parses as ``Type`` just as it parses a parameter (``CAST('-1' AS UInt64)`` is an
  error, not a wrap-around). The ``Type`` text comes from our SQL, never from a value.

Values allowed: ``int``, ``float``, ``bool``, ``str``, ``uuid.UUID``, ``datetime``
(aware; naive is taken as UTC), ``date``, and lists/tuples of those. ``None`` is refused:
write ``IS NULL`` in the SQL instead, so all three encodings stay identical.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from analytics.warehouse.errors import StoreQueryError

# ClickHouse's escaped-text escapes (what the TSV format and query parameters use).
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\n": "\\n",
    "\t": "\\t",
    "\r": "\\r",
    "\0": "\\0",
    "\b": "\\b",
    "\f": "\\f",
    "\a": "\\a",
    "\v": "\\v",
}
_NEEDS_ESCAPE = re.compile(r"[\\'\x00-\x1f\x7f]")
PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}")
# A ClickHouse type name as we write them: letters, digits, _, spaces, commas, parentheses,
# quoted time zones. Anything else in a placeholder is a bug in our SQL, refused loudly.
_TYPE_TEXT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\([A-Za-z0-9_ ,()'/+\-]*\))?$")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group(0)
    return _ESCAPES.get(char) or f"\\x{ord(char):02x}"


def escape_text(value: str) -> str:
    """Backslash-escape ``value`` the way ClickHouse reads escaped and quoted text."""
    return _NEEDS_ESCAPE.sub(_escape_char, value)


def quote_string(value: str) -> str:
    """A ClickHouse string literal ``'...'`` holding exactly ``value``."""
    return "'" + escape_text(value) + "'"


def normalise(value: Any, *, name: str = "?") -> Any:
    """Canonical Python form of a parameter value; raises StoreQueryError for others."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise StoreQueryError(f"parameter {name!r} is not valid unicode text") from None
        return value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [normalise(item, name=name) for item in value]
    if value is None:
        raise StoreQueryError(f"parameter {name!r} is None; write IS NULL in the SQL instead")
    raise StoreQueryError(f"parameter {name!r} has unsupported type {type(value).__name__}")


def _quoted_literal(value: Any) -> str:
    """A normalised value as a ClickHouse literal (the quoted format inside arrays, and SQL)."""
    if isinstance(value, list):
        return "[" + ",".join(_quoted_literal(item) for item in value) + "]"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return quote_string(value)


def chdb_param_text(value: Any, *, name: str = "?") -> str:
    """The escaped text chDB's ``params=`` expects for one value."""
    value = normalise(value, name=name)
    if isinstance(value, list):
        return _quoted_literal(value)
    if isinstance(value, str):
        return escape_text(value)
    return _quoted_literal(value)


def chdb_params(params: Mapping[str, Any]) -> dict[str, str]:
    """All parameters of a query encoded for chDB."""
    return {name: chdb_param_text(value, name=name) for name, value in params.items()}


def driver_param_value(value: Any, *, name: str = "?") -> Any:
    """A value clickhouse-driver's ``server_side_params`` mode escapes to the same text."""
    return normalise(value, name=name)


def _check_type(type_text: str) -> str:
    if not _TYPE_TEXT.match(type_text):
        raise StoreQueryError(f"unexpected parameter type {type_text!r} in SQL")
    return type_text


def render_client_side(sql: str, params: Mapping[str, Any]) -> str:
    """Replace every ``{name:Type}`` by ``CAST('<text>' AS Type)`` in one pass.

    For servers without query parameters only. One pass means a value that itself
    contains ``{x:String}`` is data, never a new placeholder.
    """
    normalised = {name: normalise(value, name=name) for name, value in params.items()}

    def substitute(match: re.Match[str]) -> str:
        name, type_text = match.group(1), _check_type(match.group(2))
        if name not in normalised:
            raise StoreQueryError(f"query parameter {name!r} is not given")
        value = normalised[name]
        text = value if isinstance(value, str) else _quoted_literal(value)
        # The value travels as a string literal that the server parses as Type, exactly
        # like a server-side parameter: '-1' AS UInt64 is an error, not a wrap-around.
        return f"CAST({quote_string(text)} AS {type_text})"

    return PLACEHOLDER.sub(substitute, sql)
