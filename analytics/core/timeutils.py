"""Time helpers. Inside the system every time is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def to_epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of a datetime (a naive one is taken as UTC).

    Integer arithmetic: ``moment.timestamp() * 1000`` is a float and can lose the last
    millisecond, which would move an event across a bucket or watermark boundary.
    """
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _ONE_MS


def from_epoch_ms(milliseconds: int | float) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def parse_iso_utc(text: str) -> datetime:
    """Parse ISO-8601 (``Z`` allowed); a naive value is taken as UTC."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
