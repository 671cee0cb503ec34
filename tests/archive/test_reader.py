"""Archived reads: a tenant's rows of a window, read from its parts, filtered by time and device."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, update

from fleet.archive import runner
from fleet.archive.reader import archived_rows
from fleet.db.models import ArchivePart, Position, utcnow
from fleet.errors import Invalid
from fleet.settings import ArchiveSettings
from tests.archive.conftest import Archive
from tests.archive.seed import DAY, add_events, add_positions, at, vehicle_ids
from tests.fixtures.factories import seed_tenant

pytestmark = pytest.mark.integration

NEXT = DAY + timedelta(days=1)


def test_rows_of_a_window_across_days_of_one_tenant_and_device(archive: Archive) -> None:
    a = seed_tenant(archive.engine, "a", ["bus-a1", "bus-a2"])
    b = seed_tenant(archive.engine, "b", ["bus-b1"])
    ids = vehicle_ids(archive.sessions, ["bus-a1", "bus-a2", "bus-b1"])
    for day in (DAY, NEXT):
        for vehicle_id in ids.values():
            add_positions(archive.sessions, vehicle_id, day, 2500)
    add_events(archive.sessions, a.id, ids["bus-a1"], DAY, 4)
    list(runner.run(archive.sessions, archive.store, ArchiveSettings(batch_rows=1000), utcnow()))
    start, end = at(DAY, 2000), at(NEXT, 100)

    with archive.sessions() as session:
        rows = list(archived_rows(session, archive.store, a.id, "positions", start, end))
        one = list(archived_rows(session, archive.store, a.id, "positions", start, end, device_id="bus-a2"))
        events = list(archived_rows(session, archive.store, a.id, "events", at(DAY, 0), at(DAY, 601)))
        none = list(archived_rows(session, archive.store, b.id, "positions", at(NEXT, 5000), at(NEXT, 6000)))
        purged = list(archived_rows(session, archive.store, a.id, "positions", start, end, purged_only=True))
        with pytest.raises(Invalid):
            list(archived_rows(session, archive.store, a.id, "positions", end, start))
        with pytest.raises(ValueError, match="not archived"):
            list(archived_rows(session, archive.store, a.id, "alarms", start, end))

    # 500 rows of each bus on DAY (from 2000.25 s), 100 on NEXT (to 99.25 s); b's rows are not a's.
    assert len(rows) == 2 * 600 and {row["device_id"] for row in rows} == {"bus-a1", "bus-a2"}
    assert all(start <= row["ts"] < end for row in rows)
    assert [row["seq"] for row in one] == [*range(2000, 2500), *range(100)]
    assert [row["started_at"] for row in events] == [at(DAY, 0), at(DAY, 600)]
    assert events[1]["data"] == '{"a":{"b":[1,2]},"z":1}'
    assert none == [] and purged == []

    with archive.sessions() as session:
        session.execute(update(ArchivePart).where(ArchivePart.day == DAY).values(purged_at=datetime.now(UTC)))
        session.execute(delete(Position).where(Position.ts < at(NEXT, 0)))
        session.commit()
        purged = list(archived_rows(session, archive.store, a.id, "positions", start, end, purged_only=True))
    assert len(purged) == 2 * 500
