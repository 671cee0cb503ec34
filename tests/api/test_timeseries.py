"""Unit tests of windows, cursors and door rendering (no database)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from api.live.schemas import doors_from_mask
from api.timeseries import decode_cursor, encode_cursor, resolve_window
from fleet.errors import Invalid

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_cursor_round_trip_keeps_microseconds() -> None:
    ts = datetime(2026, 3, 1, 8, 15, 0, 123456, tzinfo=UTC)

    assert decode_cursor(encode_cursor(ts)) == ts


def test_cursor_from_other_offset_is_normalised_to_utc() -> None:
    ts = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))

    assert decode_cursor(encode_cursor(ts)).tzinfo == UTC


def test_defaults_to_the_last_24_hours() -> None:
    window = resolve_window(None, None, 100, None, NOW)

    assert (window.since, window.until, window.after) == (NOW - timedelta(hours=24), NOW, None)


def test_bounds_are_normalised_to_utc() -> None:
    since = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))

    window = resolve_window(since, None, 100, None, NOW)

    assert window.since == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert window.since.tzinfo is UTC


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (NOW, NOW),
        (NOW, NOW - timedelta(seconds=1)),
        (NOW - timedelta(days=31, microseconds=1), NOW),
        (None, datetime(1, 1, 1, 12, tzinfo=UTC)),
        (datetime(9999, 12, 31, 12, tzinfo=UTC), None),
    ],
)
def test_invalid_windows(since: datetime | None, until: datetime | None) -> None:
    with pytest.raises(Invalid):
        resolve_window(since, until, 100, None, NOW)


@pytest.mark.parametrize(
    ("mask", "count", "expected"),
    [(None, None, None), (0, 0, []), (0b110, 3, [False, True, True]), (0b110, None, [False, True, True]), (1, -1, [])],
)
def test_doors_from_mask(mask: int | None, count: int | None, expected: list[bool] | None) -> None:
    assert doors_from_mask(mask, count) == expected
