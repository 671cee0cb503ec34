"""Pages written by PostgreSQL (`api.timeseries.rendered`) are byte for byte what Python writes from the rows, and
a page with a value PostgreSQL would write differently is left to Python."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, text
from sqlalchemy.orm import Session, sessionmaker

from api.render import dumps
from api.timeseries.rendered import rendered_page
from api.timeseries.repository import rows_in_window
from api.timeseries.window import Window, as_dicts, encode_cursor
from fleet.db.models import Position
from fleet.db.partitions import ensure_partitions
from fleet.streams import POSITIONS
from tests.api.conftest import BASE_TS, SeededTenant

pytestmark = pytest.mark.integration

WINDOW = Window(since=BASE_TS, until=BASE_TS + timedelta(days=1), limit=10_000)


def written_alike(value: float | None) -> bool:
    """Whether PostgreSQL and orjson write `value` the same way: no exponent in either."""
    return value is None or value == 0 or 1e-4 <= abs(value) < 1e15


# Values a unit sends (coordinates, speeds, integral readings), then every float there is: tiny, huge, subnormal.
plain = st.one_of(
    st.builds(lambda value, west: -value if west else value, st.floats(min_value=1e-4, max_value=180), st.booleans()),
    st.integers(min_value=-100_000, max_value=100_000).map(float),
    st.sampled_from([0.0, -0.0, 1e-4, 0.00015, 999_999_999_999_999.9, 123_456_789_012_345.0]),
)
anything = st.one_of(plain, st.floats(allow_nan=False, allow_infinity=False))
stamps = st.datetimes(
    min_value=datetime(2026, 3, 1), max_value=datetime(2026, 3, 1, 23, 59, 59, 999_999), timezones=st.just(UTC)
).map(lambda ts: ts.replace(microsecond=ts.microsecond if ts.microsecond % 3 else 0))


def position(vehicle_id: int, seq: int, ts: datetime, values: list[float], sats: int | None) -> Position:
    """A position of `values` (lat, lon, speed, heading, altitude, hdop), the optional ones null when negative."""
    lat, lon, speed, heading, alt, hdop = values
    return Position(
        vehicle_id=vehicle_id, ts=ts, seq=seq, lat=lat, lon=lon, speed_kmh=speed, heading_deg=heading,
        alt_m=None if sats is None else alt, sats=sats, hdop=None if seq % 3 == 0 else hdop,
    )  # fmt: skip


def python_page(session: Session, vehicle_id: int, window: Window) -> tuple[bytes, str | None]:
    """The page's items and cursor as Python writes them from the rows."""
    items = as_dicts(rows_in_window(session, POSITIONS, vehicle_id, window))
    page = items[: window.limit]
    more = len(items) > window.limit
    return dumps(page)[1:-1], encode_cursor(page[-1]["ts"], page[-1]["seq"]) if more else None


def replace_rows(sessions: sessionmaker[Session], vehicle_id: int, rows: list[Position]) -> None:
    """The vehicle's positions are `rows` and nothing else."""
    with sessions() as session, session.begin():
        ensure_partitions(session.connection(), "positions", {BASE_TS.date()})
        session.execute(delete(Position).where(Position.vehicle_id == vehicle_id))
        session.add_all(rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.tuples(
            stamps,
            st.lists(plain, min_size=6, max_size=6) | st.lists(anything, min_size=6, max_size=6),
            st.none() | st.integers(0, 30),
        ),
        min_size=1,
        max_size=12,
        unique_by=lambda row: row[0],  # a vehicle has one position per instant
    ),
    limit=st.integers(min_value=1, max_value=13),
    after=st.none() | st.integers(min_value=0, max_value=11),
)
def test_a_page_written_by_postgresql_is_what_python_writes(
    pg_sessions: sessionmaker[Session],
    tenant: SeededTenant,
    data: list[tuple[datetime, list[float], int | None]],
    limit: int,
    after: int | None,
) -> None:
    vehicle_id = tenant.vehicle_ids[tenant.device_ids[0]]
    rows = [position(vehicle_id, seq, ts, values, sats) for seq, (ts, values, sats) in enumerate(data)]
    replace_rows(pg_sessions, vehicle_id, rows)
    ordered = sorted(rows, key=lambda row: (row.ts, row.seq))
    cursor = None if after is None or after >= len(ordered) else (ordered[after].ts, ordered[after].seq)
    window = Window(since=WINDOW.since, until=WINDOW.until, limit=limit, after=cursor)
    shown = [row for row in ordered if cursor is None or (row.ts, row.seq) > cursor][: limit + 1]

    with pg_sessions() as session:
        page = rendered_page(session, POSITIONS, vehicle_id, window)
        expected_items, expected_next = python_page(session, vehicle_id, window)

    values = [
        getattr(row, name) for row in shown for name in ("lat", "lon", "speed_kmh", "heading_deg", "alt_m", "hdop")
    ]
    if all(written_alike(value) for value in values):
        event("written by PostgreSQL")
        assert page is not None
        assert (page.items, page.next) == (expected_items, expected_next)
    else:
        event("left to Python")
        assert page is None


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.lists(plain, min_size=6, max_size=6), min_size=1, max_size=20))
def test_the_values_units_send_are_written_by_postgresql(
    pg_sessions: sessionmaker[Session], tenant: SeededTenant, values: list[list[float]]
) -> None:
    vehicle_id = tenant.vehicle_ids[tenant.device_ids[0]]
    rows = [position(vehicle_id, n, BASE_TS + timedelta(seconds=n), row, 9) for n, row in enumerate(values)]
    replace_rows(pg_sessions, vehicle_id, rows)

    with pg_sessions() as session:
        page = rendered_page(session, POSITIONS, vehicle_id, WINDOW)

    assert page is not None
    assert page.next is None
    assert page.items.count(b'{"ts":') == len(values)


def test_a_server_writing_floats_short_leaves_the_page_to_python(
    pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    vehicle_id = tenant.vehicle_ids[tenant.device_ids[0]]
    replace_rows(pg_sessions, vehicle_id, [position(vehicle_id, 1, BASE_TS, [48.1, 11.5, 30.0, 90.0, 500.0, 1.1], 9)])

    with pg_sessions() as session:
        round_trip = rendered_page(session, POSITIONS, vehicle_id, WINDOW)
        session.execute(text("SET LOCAL extra_float_digits = 0"))
        short = rendered_page(session, POSITIONS, vehicle_id, WINDOW)

    assert round_trip is not None
    assert short is None


def test_a_server_writing_dates_other_than_iso_leaves_the_page_to_python(
    pg_sessions: sessionmaker[Session], tenant: SeededTenant
) -> None:
    vehicle_id = tenant.vehicle_ids[tenant.device_ids[0]]
    replace_rows(pg_sessions, vehicle_id, [position(vehicle_id, 1, BASE_TS, [48.1, 11.5, 30.0, 90.0, 500.0, 1.1], 9)])

    with pg_sessions() as session:
        iso = rendered_page(session, POSITIONS, vehicle_id, WINDOW)
        session.execute(text("SET LOCAL DateStyle = 'SQL, DMY'"))
        european = rendered_page(session, POSITIONS, vehicle_id, WINDOW)

    assert iso is not None
    assert european is None


def test_an_empty_window_is_an_empty_page(pg_sessions: sessionmaker[Session], tenant: SeededTenant) -> None:
    vehicle_id = tenant.vehicle_ids[tenant.device_ids[0]]
    replace_rows(pg_sessions, vehicle_id, [])

    with pg_sessions() as session:
        page = rendered_page(session, POSITIONS, vehicle_id, WINDOW)

    assert page is not None
    assert (page.items, page.next) == (b"", None)
