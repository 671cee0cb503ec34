"""Windows and cursors; the window query against an in-memory SQLite table whose rows share timestamps."""

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import BigInteger, Column, DateTime, MetaData, Table, bindparam, create_engine, insert, select
from sqlalchemy.orm import Session

from api.timeseries.repository import in_window, window_values
from api.timeseries.window import MAX_KEY, decode_cursor, encode_cursor, resolve_window, split_page
from fleet.errors import Invalid

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_cursor_round_trip_keeps_microseconds() -> None:
    ts = datetime(2026, 3, 1, 8, 15, 0, 123456, tzinfo=UTC)

    assert decode_cursor(encode_cursor(ts, 7)) == (ts, 7)


def test_cursor_from_other_offset_is_normalised_to_utc() -> None:
    ts = datetime(2026, 3, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))

    assert decode_cursor(encode_cursor(ts, 0))[0].tzinfo == UTC


def test_a_version_1_cursor_continues_after_every_row_of_its_timestamp() -> None:
    ts = datetime(2026, 3, 1, 8, 15, tzinfo=UTC)
    v1 = base64.urlsafe_b64encode(f"1:{ts.isoformat()}".encode()).decode().rstrip("=")

    assert decode_cursor(v1) == (ts, MAX_KEY)


@pytest.mark.parametrize("raw", ["2:-1:2026-03-01T08:00:00+00:00", "2:x:2026-03-01T08:00:00+00:00", "3:1:2026"])
def test_garbled_cursors_are_refused(raw: str) -> None:
    with pytest.raises(Invalid):
        decode_cursor(base64.urlsafe_b64encode(raw.encode()).decode())


def test_paging_never_skips_or_repeats_rows_that_share_a_timestamp() -> None:
    metadata = MetaData()
    events = Table("events", metadata, Column("ts", DateTime(timezone=True)), Column("id", BigInteger))
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    stamps = [NOW - timedelta(minutes=5)] * 5 + [NOW - timedelta(minutes=1)] * 3
    with Session(engine) as session:
        session.execute(insert(events), [{"ts": ts, "id": i} for i, ts in enumerate(stamps, start=1)])
        seen: list[int] = []
        cursor: str | None = None
        while True:
            window = resolve_window(None, None, 2, cursor, NOW)
            where = in_window(events.c.ts, events.c.id, window.after is not None)
            query = select(events.c.ts, events.c.id).where(where).order_by(events.c.ts, events.c.id)
            rows, cursor = split_page(session.execute(query.limit(bindparam("limit")), window_values(window)).all(), 2)
            seen += [row.id for row in rows]
            if cursor is None:
                break

    assert seen == list(range(1, 9))


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
