"""Rows of the hot tier for the archive's tests: positions, CAN samples and events of known values."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from fleet.archive.layout import ArchivedTable
from fleet.archive.repository import day_window, source_table
from fleet.db.models import CanSample, Event, Position, Vehicle
from fleet.db.partitions import ensure_partitions

DAY = date(2026, 1, 5)


def at(day: date, seconds: float) -> datetime:
    """`seconds` after `day`'s UTC midnight."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)


def vehicle_ids(sessions: sessionmaker[Session], device_ids: list[str]) -> dict[str, int]:
    """Vehicle id of each device."""
    with sessions() as session:
        rows = session.execute(select(Vehicle.device_id, Vehicle.id).where(Vehicle.device_id.in_(device_ids)))
        return {device_id: vehicle_id for device_id, vehicle_id in rows}


def add_positions(sessions: sessionmaker[Session], vehicle_id: int, day: date, count: int, start: int = 0) -> None:
    """`count` positions of a vehicle on `day`, a second apart from `start` seconds after midnight."""
    rows = [
        {
            "vehicle_id": vehicle_id,
            "ts": at(day, start + n + 0.25),
            "seq": start + n,
            "lat": 48.1 + n / 1e5,
            "lon": 11.5 - n / 1e5,
            "speed_kmh": None if n % 7 == 0 else 30.0 + n % 5,
            "heading_deg": float(n % 360),
            "alt_m": None,
            "sats": 9,
            "hdop": 0.9,
            "received_at": at(day, start + n + 1),
        }
        for n in range(count)
    ]
    with sessions() as session:
        ensure_partitions(session.connection(), "positions", [day])
        session.execute(insert(Position), rows)
        session.commit()


def add_can(sessions: sessionmaker[Session], vehicle_id: int, day: date, count: int) -> None:
    """`count` CAN samples of a vehicle on `day`, ten seconds apart."""
    rows = [
        {
            "vehicle_id": vehicle_id,
            "ts": at(day, 10 * n),
            "seq": n,
            "fuel_level_pct": 80.0 - n / 10,
            "distance_total_km": 1000.0 + n / 100,
            "doors_open_mask": n % 4,
            "door_count": 3,
            "passenger_count": n % 40,
            "received_at": at(day, 10 * n + 2),
        }
        for n in range(count)
    ]
    with sessions() as session:
        ensure_partitions(session.connection(), "can_samples", [day])
        session.execute(insert(CanSample), rows)
        session.commit()


def add_events(sessions: sessionmaker[Session], tenant_id: int, vehicle_id: int, day: date, count: int) -> None:
    """`count` events of a vehicle on `day`, with data (nested, keys out of order) and without."""
    with sessions() as session:
        session.add_all(
            Event(
                tenant_id=tenant_id,
                vehicle_id=vehicle_id,
                key=f"u:{day}/{n}",
                source="unit",
                type="harsh_braking",
                severity="warning" if n % 2 else "info",
                started_at=at(day, 600 * n),
                ended_at=None if n % 3 else at(day, 600 * n + 5),
                lat=48.0,
                lon=None,
                data={"z": n, "a": {"b": [1, 2]}} if n % 2 else {},
                unit_event_id=f"ev-{n}" if n % 2 else None,
                received_at=at(day, 600 * n + 1),
                updated_at=at(day, 600 * n + 2),
            )
            for n in range(count)
        )
        session.commit()


def database_rows(sessions: sessionmaker[Session], table: ArchivedTable, day: date) -> list[dict[str, Any]]:
    """The rows of `table` on `day` as the archive's files hold them (device id, events' data as a dict), sorted."""
    source = source_table(table)
    start, end = day_window(day)
    time_column = source.c[table.time_column]
    query = (
        select(Vehicle.device_id, *(source.c[name] for name in table.columns if name != "device_id"))
        .join_from(source, Vehicle, Vehicle.id == source.c.vehicle_id)
        .where(time_column >= start, time_column < end)
    )
    with sessions() as session:
        rows = [dict(row._mapping) for row in session.execute(query)]
    return sorted(rows, key=lambda row: tuple(row[name] for name in ("device_id", *table.order)))
