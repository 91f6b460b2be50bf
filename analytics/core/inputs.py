"""Client input the API accepts, with bounds: a bad value is a 400 naming it, never a 500.

One place for the checks that every endpoint needs and none should redo:

* ``query_moment``: a ``from`` / ``to`` time, ISO-8601, between ``EARLIEST`` and ``LATEST``
  (what the event store can compare and bucket: DateTime64 holds 1900-2299,
  ``toUnixTimestamp`` 1970-2106, and a bucket's end can lie a month past the value).
* ``epoch_ms``: a millisecond timestamp from a cursor, within the same bounds.
* ``BoundedJSONParser``: DRF's JSON parser with a nesting limit (``MAX_JSON_DEPTH``);
  a body nested 50,000 deep is a 400, not a RecursionError.
* ``BoundedIntegerField``: an IntegerField that never passes a value its database column
  (PostgreSQL ``integer`` unless told) cannot store.

Errors use the project's envelope, ``{"error": {"code": "invalid", "message", "parameter",
"fields": {parameter: [message]}}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from analytics.core.errors import ApplicationError
from analytics.core.timeutils import parse_iso_utc, to_epoch_ms

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_JSON_DEPTH = 64
INT32_MAX = 2**31 - 1
_ONE_MS = timedelta(milliseconds=1)


class InvalidParameter(ApplicationError):
    """A 400 naming the parameter (query parameter or body field) that was refused."""

    code = "invalid"

    def __init__(self, parameter: str, problem: str) -> None:
        message = f"{parameter!r} {problem}"
        super().__init__(message, extra={"parameter": parameter, "fields": {parameter: [message]}})


def _bounds_text() -> str:
    return f"between {EARLIEST:%Y-%m-%dT%H:%M:%SZ} and {LATEST:%Y-%m-%dT%H:%M:%SZ}"


def query_moment(params: Mapping[str, Any], name: str) -> datetime | None:
    """The parameter ``name`` as an aware UTC datetime within the bounds; None when absent."""
    text = params.get(name)
    if text is None or text == "":
        return None
    try:
        moment = parse_iso_utc(str(text))
    except (ValueError, TypeError, OverflowError):
        raise InvalidParameter(name, f"must be an ISO-8601 time {_bounds_text()}, e.g. 2024-05-01T00:00:00Z") from None
    if not EARLIEST <= moment <= LATEST:
        raise InvalidParameter(name, f"must be {_bounds_text()}")
    return moment


def epoch_ms(value: int, name: str) -> datetime:
    """Epoch milliseconds (from a cursor, say) as a datetime within the bounds."""
    if not to_epoch_ms(EARLIEST) <= value <= to_epoch_ms(LATEST):
        raise InvalidParameter(name, f"holds a time not {_bounds_text()}")
    return EARLIEST + value * _ONE_MS


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON nests deeper than ``limit`` arrays/objects (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class BoundedJSONParser(JSONParser):
    """DRF's JSONParser; a body nested deeper than ``MAX_JSON_DEPTH`` is a 400 (parse_error)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels") from None
        if json_depth_exceeds(data):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        return data


class BoundedIntegerField(serializers.IntegerField):
    """An IntegerField bounded by its column: ``max_value`` defaults to ``INT32_MAX``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_value", INT32_MAX)
        kwargs.setdefault("min_value", -INT32_MAX - 1)
        super().__init__(**kwargs)
