"""Time helpers convert exactly, in integer milliseconds."""

from datetime import UTC, datetime

from analytics.core.timeutils import from_epoch_ms, to_epoch_ms


def test_to_epoch_ms_round_trips_every_millisecond_of_a_second() -> None:
    base = 1_700_000_000_000
    assert all(to_epoch_ms(from_epoch_ms(base + ms)) == base + ms for ms in range(1000))


def test_to_epoch_ms_floors_sub_millisecond_parts_before_the_epoch_too() -> None:
    # Truncating a float (int(ts * 1000)) rounds toward zero; buckets need the floor.
    assert to_epoch_ms(datetime(1969, 12, 31, 23, 59, 59, 998500, tzinfo=UTC)) == -2
    assert to_epoch_ms(datetime(2023, 11, 14, 22, 13, 20, 123999, tzinfo=UTC)) == 1_700_000_000_123


def test_naive_datetimes_are_taken_as_utc() -> None:
    assert to_epoch_ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000  # noqa: DTZ001 - naive on purpose
