"""Restore of an archived day into the database: equal rows, nothing twice, unknown devices skipped and counted."""

import pytest
from sqlalchemy import delete, func, select, text, update

from fleet.archive import runner
from fleet.archive.layout import EVENTS, POSITIONS
from fleet.archive.restore import restore
from fleet.archive.results import RestoreResult
from fleet.db.models import ArchivePart, Event, Position, Vehicle, utcnow
from fleet.db.partitions import partition_name
from fleet.errors import NotFound
from fleet.settings import ArchiveSettings
from tests.archive.conftest import Archive
from tests.archive.seed import DAY, add_events, add_positions, database_rows, vehicle_ids
from tests.fixtures.factories import seed_tenant

pytestmark = pytest.mark.integration

SETTINGS = ArchiveSettings(batch_rows=1000)


def restored(archive: Archive, tables: list[str] | None = None, tenant_id: int | None = None) -> list[RestoreResult]:
    return list(restore(archive.sessions, archive.store, DAY, 1000, tables=tables, tenant_id=tenant_id))


def test_a_removed_day_is_restored_equal_and_a_second_restore_adds_nothing(archive: Archive) -> None:
    a = seed_tenant(archive.engine, "a", ["bus-a1", "bus-a2"])
    seed_tenant(archive.engine, "b", ["bus-b1"])
    ids = vehicle_ids(archive.sessions, ["bus-a1", "bus-a2", "bus-b1"])
    for device_id in ids:
        add_positions(archive.sessions, ids[device_id], DAY, 1500)
    add_events(archive.sessions, a.id, ids["bus-a1"], DAY, 6)
    list(runner.run(archive.sessions, archive.store, SETTINGS, utcnow()))
    positions = database_rows(archive.sessions, POSITIONS, DAY)
    events = database_rows(archive.sessions, EVENTS, DAY)
    with archive.sessions() as session:
        if archive.dialect == "postgresql":
            session.execute(text(f"DROP TABLE {partition_name('positions', DAY)}"))
        else:
            session.execute(delete(Position))
        session.execute(delete(Event))
        session.commit()

    first = restored(archive)

    assert [(r.table, r.parts, r.inserted, r.present, r.skipped) for r in first] == [
        ("positions", 2, 4500, 0, 0),
        ("events", 1, 6, 0, 0),
    ]
    assert database_rows(archive.sessions, POSITIONS, DAY) == positions
    back = database_rows(archive.sessions, EVENTS, DAY)
    assert [{k: v for k, v in row.items() if k != "id"} for row in back] == [
        {k: v for k, v in row.items() if k != "id"} for row in events
    ]
    if archive.dialect == "postgresql":  # new ids from the sequence (SQLite reuses the highest ones deleted)
        assert {row["id"] for row in back}.isdisjoint(row["id"] for row in events)

    again = restored(archive)

    assert [(r.table, r.inserted, r.present) for r in again] == [("positions", 0, 4500), ("events", 0, 6)]
    with archive.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Position)) == 4500
        assert session.scalar(select(func.count()).select_from(Event)) == 6


def test_rows_of_unknown_devices_are_skipped_and_counted_and_a_tenant_restores_alone(archive: Archive) -> None:
    a = seed_tenant(archive.engine, "a", ["bus-a1", "bus-a2"])
    b = seed_tenant(archive.engine, "b", ["bus-b1"])
    ids = vehicle_ids(archive.sessions, ["bus-a1", "bus-a2", "bus-b1"])
    for vehicle_id in ids.values():
        add_positions(archive.sessions, vehicle_id, DAY, 10)
    list(runner.run(archive.sessions, archive.store, SETTINGS, utcnow(), tables=["positions"]))
    with archive.sessions() as session:
        session.execute(delete(Position))
        session.execute(update(Vehicle).where(Vehicle.device_id == "bus-a2").values(device_id="bus-renamed"))
        session.commit()

    (only_b,) = restored(archive, tables=["positions"], tenant_id=b.id)
    (result,) = restored(archive, tables=["positions"], tenant_id=a.id)

    assert (only_b.parts, only_b.inserted, only_b.skipped) == (1, 10, 0)
    assert (result.parts, result.inserted, result.present, result.skipped) == (1, 10, 0, 10)
    with archive.sessions() as session:
        counts = dict(session.execute(select(Position.vehicle_id, func.count()).group_by(Position.vehicle_id)).all())
    assert counts == {ids["bus-a1"]: 10, ids["bus-b1"]: 10}
    assert a.id != b.id


def test_a_day_not_archived_is_not_found_by_name_and_skipped_otherwise(archive: Archive) -> None:
    with pytest.raises(NotFound, match="not in the archive"):
        restored(archive, tables=["positions"])
    assert restored(archive) == []


def test_a_tenants_only_part_restored_whole_is_no_longer_purged(archive: Archive) -> None:
    a = seed_tenant(archive.engine, "a", ["bus-a1"])
    b = seed_tenant(archive.engine, "b", ["bus-b1", "bus-b2"])
    ids = vehicle_ids(archive.sessions, ["bus-a1", "bus-b1", "bus-b2"])
    for vehicle_id in ids.values():
        add_positions(archive.sessions, vehicle_id, DAY, 10)
    list(runner.run(archive.sessions, archive.store, SETTINGS, utcnow(), tables=["positions"]))
    with archive.sessions() as session:  # what retention does
        session.execute(delete(Position))
        session.execute(update(ArchivePart).values(purged_at=utcnow()))
        session.execute(update(Vehicle).where(Vehicle.device_id == "bus-b2").values(device_id="bus-gone"))
        session.commit()

    restored(archive, tables=["positions"])

    with archive.sessions() as session:
        purged = dict(session.execute(select(ArchivePart.tenant_id, ArchivePart.purged_at.is_not(None))).all())
    assert purged == {a.id: False, b.id: True}
