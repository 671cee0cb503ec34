"""Rows, partitions and archive records for the retention tests, written straight into the tables."""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert, select

from fleet.db.engine import make_session_factory
from fleet.db.models import Alarm, ArchiveDay, ArchivePart, DeadLetter, Event, Position, Vehicle
from fleet.db.partitions import ensure_partitions, partition_days
from tests.fixtures.factories import seed_tenant

NOW = datetime.now(UTC)


def days_ago(days: int) -> date:
    """The UTC day `days` before today."""
    return NOW.date() - timedelta(days=days)


def tenant_with_vehicle(engine: Engine, name: str) -> tuple[int, int]:
    """A tenant with one vehicle: (tenant id, vehicle id)."""
    seeded = seed_tenant(engine, name, [f"{name}-bus"])
    with make_session_factory(engine)() as session:
        vehicle_id = session.scalar(select(Vehicle.id).where(Vehicle.device_id == f"{name}-bus"))
    assert vehicle_id is not None
    return seeded.id, vehicle_id


def add_positions(engine: Engine, vehicle_id: int, day: date, count: int, first_second: int = 0) -> None:
    """`count` positions of a vehicle on `day`, a second apart."""
    start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=first_second)
    rows = [
        {"vehicle_id": vehicle_id, "ts": start + timedelta(seconds=n), "seq": first_second + n, "lat": 1.0,
         "lon": 2.0, "received_at": NOW}
        for n in range(count)
    ]  # fmt: skip
    with engine.begin() as connection:
        ensure_partitions(connection, "positions", [day])
        connection.execute(insert(Position), rows)


def archive(
    engine: Engine, table: str, day: date, state: str, rows: dict[int, int], exported_at: datetime = NOW
) -> None:
    """The archive's record of (table, day) in `state`, with one part per tenant holding `rows[tenant]` rows."""
    with make_session_factory(engine)() as session:
        session.add(
            ArchiveDay(
                table_name=table, day=day, state=state, rows=sum(rows.values()), bytes=100,
                manifest_key=f"archive/{table}/{day:%Y/%m/%d}/manifest.json", exported_at=exported_at,
                verified_at=exported_at if state == "verified" else None, updated_at=exported_at,
            )
        )  # fmt: skip
        for tenant_id, count in rows.items():
            session.add(
                ArchivePart(
                    table_name=table, day=day, tenant_id=tenant_id, part=1,
                    key=f"tenants/{tenant_id}/archive/{table}/{day:%Y/%m/%d}/part-1.parquet", rows=count, bytes=10,
                    sha256="0" * 64, min_ts=exported_at, max_ts=exported_at, exported_at=exported_at,
                )
            )  # fmt: skip
        session.commit()


def state_of(engine: Engine, table: str, day: date) -> str | None:
    """The archive state of (table, day)."""
    with make_session_factory(engine)() as session:
        record = session.get(ArchiveDay, (table, day))
        return None if record is None else record.state


def purged(engine: Engine, table: str, day: date) -> dict[int, bool]:
    """Tenant -> whether its part of (table, day) is purged."""
    with make_session_factory(engine)() as session:
        parts = session.scalars(select(ArchivePart).where(ArchivePart.table_name == table, ArchivePart.day == day))
        return {part.tenant_id: part.purged_at is not None for part in parts}


def partitions(engine: Engine, table: str = "positions") -> set[date]:
    """The days with a partition of `table`."""
    with engine.connect() as connection:
        return set(partition_days(connection, table))


def positions_on(engine: Engine, day: date, vehicle_id: int | None = None) -> int:
    """Positions stored on `day` (of one vehicle)."""
    start = datetime.combine(day, datetime.min.time(), UTC)
    query = select(Position.ts).where(Position.ts >= start, Position.ts < start + timedelta(days=1))
    if vehicle_id is not None:
        query = query.where(Position.vehicle_id == vehicle_id)
    with engine.connect() as connection:
        return len(connection.execute(query).all())


def add_event(engine: Engine, tenant_id: int, vehicle_id: int, day: date, key: str, updated_at: datetime = NOW) -> int:
    """An event of a vehicle that started at noon on `day`; its id."""
    started = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    with make_session_factory(engine)() as session:
        event = Event(
            tenant_id=tenant_id, vehicle_id=vehicle_id, key=key, source="unit", type="panic", severity="critical",
            started_at=started, data={}, received_at=started, updated_at=updated_at,
        )  # fmt: skip
        session.add(event)
        session.commit()
        return event.id


def add_alarm(engine: Engine, tenant_id: int, vehicle_id: int, day: date, state: str) -> int:
    """An alarm in `state` opened at noon on `day`; its id."""
    opened = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    with make_session_factory(engine)() as session:
        alarm = Alarm(
            tenant_id=tenant_id, vehicle_id=vehicle_id, type="panic", severity="critical", state=state,
            opened_at=opened, created_at=opened, updated_at=opened,
        )  # fmt: skip
        session.add(alarm)
        session.commit()
        return alarm.id


def add_dead_letter(engine: Engine, tenant_id: int | None, day: date, topic: str) -> int:
    """A dead letter received at noon on `day`; its id."""
    received = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    with make_session_factory(engine)() as session:
        letter = DeadLetter(
            received_at=received, topic=topic, tenant_id=tenant_id, reason="bad_json", detail="bad", payload=b"{"
        )
        session.add(letter)
        session.commit()
        return letter.id


def ids_of(engine: Engine, model: type[Event] | type[Alarm] | type[DeadLetter]) -> set[int]:
    """The ids stored in a table."""
    with make_session_factory(engine)() as session:
        return set(session.scalars(select(model.id)))
