"""Reading sessions: one project's sessions of a range, newest first, a page at a time.

The sessions are cut at query time by ``compiler/sessions.py`` (its docstring states the
rules) with the project's settings ``session_timeout_minutes`` and
``session_split_at_midnight``. A page is ``{"results": [...], "next_cursor"}``; the cursor
is opaque (the last row's start and key) and ``null`` on the last page. Times are ISO 8601
with the project's offset.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from analytics.core.errors import ApplicationError
from analytics.query.compiler.sessions import UTM_KEYS, SessionRules, session_details_query, session_page_query
from analytics.query.runner import _rows as store_rows  # RE2 and timeout errors as 400s, as in trends
from analytics.warehouse.store import EventStore, get_store

MAX_PAGE = 200
_MAX_MS = 2**53  # any real event time fits; a forged cursor must not overflow Int64
_TEXT_FIELDS: tuple[str, ...] = (
    *("session_key", "session_id", "person_id", "distinct_id", "entry_url", "exit_url", "referrer"),
    *(*UTM_KEYS, "country", "browser", "os", "device_type"),
)


class InvalidCursor(ApplicationError):
    def __init__(self) -> None:
        message = "is not a cursor this API returned"
        super().__init__(f"cursor {message}", extra={"fields": {"cursor": [message]}})


def encode_cursor(start_ms: int, session_key: str) -> str:
    return base64.urlsafe_b64encode(f"{start_ms}:{session_key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        milliseconds, session_key = text.split(":", 1)
        start_ms = int(milliseconds)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor() from None
    if not 0 <= start_ms < _MAX_MS or not session_key.startswith(("c:", "p:")):
        raise InvalidCursor()
    return start_ms, session_key


def _moment(milliseconds: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC).astimezone(zone).isoformat(timespec="milliseconds")


def _session(row: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    session: dict[str, Any] = {name: str(row[name]) for name in _TEXT_FIELDS}
    session.update(
        start=_moment(int(row["start_ms"]), zone),
        end=_moment(int(row["end_ms"]), zone),
        duration_seconds=float(row["duration_seconds"]),
        event_count=int(row["event_count"]),
        pageviews=int(row["pageviews"]),
        is_bounce=bool(row["is_bounce"]),
    )
    return session


def list_sessions(
    *,
    project: Any,
    date_from: datetime,
    date_to: datetime,
    distinct_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    store: EventStore | None = None,
) -> dict[str, Any]:
    """A page of the project's sessions in ``[date_from, date_to)`` (the caller checked access)."""
    assert 1 <= limit <= MAX_PAGE
    store = store or get_store()
    common = {"project_id": project.id, "rules": SessionRules.for_project(project), "start": date_from, "end": date_to}
    keys = store_rows(
        store,
        session_page_query(
            **common, distinct_id=distinct_id, limit=limit + 1, before=decode_cursor(cursor) if cursor else None
        ),
    )
    page = keys[:limit]
    next_cursor = None
    if len(keys) > limit:
        next_cursor = encode_cursor(int(page[-1]["start_ms"]), str(page[-1]["session_key"]))
    if not page:
        return {"results": [], "next_cursor": None}
    rows = store_rows(
        store,
        session_details_query(
            **common,
            session_keys=[str(row["session_key"]) for row in page],
            person_ids=sorted({str(row["person_id"]) for row in page}),
            session_ids=sorted({str(row["session_id"]) for row in page}),
        ),
    )
    zone = ZoneInfo(project.timezone)
    return {"results": [_session(row, zone) for row in rows], "next_cursor": next_cursor}
