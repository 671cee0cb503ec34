"""Export and verification of closed days, on PostgreSQL with SeaweedFS and on SQLite with the local store."""

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import delete, select, update

from fleet.archive import repository, runner
from fleet.archive.layout import CAN_SAMPLES, EVENTS, POSITIONS, ArchivedTable, manifest_key, part_key
from fleet.archive.results import DayResult, Outcome
from fleet.blobs.store import BlobStore
from fleet.db.models import ArchiveDay, ArchivePart, Position, utcnow
from fleet.db.partitions import ensure_partitions
from fleet.settings import ArchiveSettings
from tests.archive.conftest import Archive
from tests.archive.seed import DAY, add_can, add_events, add_positions, database_rows, vehicle_ids
from tests.fixtures.factories import SeededTenant, seed_tenant

pytestmark = pytest.mark.integration

SETTINGS = ArchiveSettings(batch_rows=1000)


def file_rows(store: BlobStore, key: str) -> list[dict[str, Any]]:
    """The rows of a stored Parquet part."""
    return pq.read_table(pa.BufferReader(store.get_bytes(key))).to_pylist()


def parts(archive: Archive, table: ArchivedTable = POSITIONS, day: date = DAY) -> list[ArchivePart]:
    """The recorded parts of (table, day) by tenant and part."""
    with archive.sessions() as session:
        query = select(ArchivePart).where(ArchivePart.table_name == table.name, ArchivePart.day == day)
        return list(session.scalars(query.order_by(ArchivePart.tenant_id, ArchivePart.part)))


def day_record(archive: Archive, table: ArchivedTable = POSITIONS, day: date = DAY) -> ArchiveDay | None:
    """The archive's record of (table, day)."""
    with archive.sessions() as session:
        return session.get(ArchiveDay, (table.name, day))


def run(archive: Archive, day: date | None = None, now: datetime | None = None) -> list[DayResult]:
    """One archive pass."""
    return list(runner.run(archive.sessions, archive.store, SETTINGS, now or utcnow(), day=day))


def two_tenants(archive: Archive) -> tuple[SeededTenant, SeededTenant, dict[str, int]]:
    """Tenant a with two buses, tenant b with one, 30 and 20 positions each on DAY."""
    a = seed_tenant(archive.engine, "a", ["bus-a2", "bus-a1"])
    b = seed_tenant(archive.engine, "b", ["bus-b1"])
    ids = vehicle_ids(archive.sessions, ["bus-a1", "bus-a2", "bus-b1"])
    add_positions(archive.sessions, ids["bus-a1"], DAY, 30)
    add_positions(archive.sessions, ids["bus-a2"], DAY, 30)
    add_positions(archive.sessions, ids["bus-b1"], DAY, 20)
    return a, b, ids


def test_a_closed_day_is_exported_per_tenant_verified_and_reads_back_equal(archive: Archive) -> None:
    a, b, ids = two_tenants(archive)
    add_can(archive.sessions, ids["bus-b1"], DAY, 12)
    add_events(archive.sessions, a.id, ids["bus-a1"], DAY, 5)
    today = utcnow().date()
    add_positions(archive.sessions, ids["bus-a1"], today, 3)

    results = run(archive)

    assert {(r.table, r.day, r.outcome) for r in results} == {
        ("positions", DAY, Outcome.VERIFIED),
        ("can_samples", DAY, Outcome.VERIFIED),
        ("events", DAY, Outcome.VERIFIED),
    }
    recorded = parts(archive)
    assert [(p.tenant_id, p.part, p.key, p.rows) for p in recorded] == [
        (a.id, 1, part_key(POSITIONS, DAY, a.id, 1), 60),
        (b.id, 1, part_key(POSITIONS, DAY, b.id, 1), 20),
    ]
    # Each tenant's file holds its own rows only, equal to the database's, in (device_id, ts, seq) order.
    expected = database_rows(archive.sessions, POSITIONS, DAY)
    assert file_rows(archive.store, recorded[0].key) == [r for r in expected if r["device_id"].startswith("bus-a")]
    assert file_rows(archive.store, recorded[1].key) == [r for r in expected if r["device_id"] == "bus-b1"]
    assert file_rows(archive.store, part_key(CAN_SAMPLES, DAY, b.id, 1)) == database_rows(
        archive.sessions, CAN_SAMPLES, DAY
    )
    events = file_rows(archive.store, part_key(EVENTS, DAY, a.id, 1))
    assert [json.loads(row.pop("data")) for row in events] == [
        row.pop("data") for row in database_rows(archive.sessions, EVENTS, DAY)
    ]
    assert events == [
        {k: v for k, v in row.items() if k != "data"} for row in database_rows(archive.sessions, EVENTS, DAY)
    ]

    manifest = json.loads(archive.store.get_bytes(manifest_key(POSITIONS, DAY)))
    assert manifest["table"] == "positions" and manifest["day"] == "2026-01-05" and manifest["rows"] == 80
    assert [c["name"] for c in manifest["columns"]] == list(POSITIONS.columns)
    listed = manifest["parts"][0]
    first = recorded[0]
    assert listed == {
        "tenant_id": a.id,
        "part": 1,
        "key": first.key,
        "rows": 60,
        "bytes": first.bytes,
        "sha256": first.sha256,
        "min_ts": "2026-01-05T00:00:00.250000+00:00",
        "max_ts": "2026-01-05T00:00:29.250000+00:00",
        "purged_at": None,
    }
    assert archive.store.sha256(first.key) == first.sha256
    record = day_record(archive)
    assert record is not None and record.state == "verified" and record.verified_at is not None
    assert (record.rows, record.bytes) == (80, sum(p.bytes for p in recorded))
    # Today is open: not archived, and asking for it is refused.
    assert day_record(archive, POSITIONS, today) is None
    with pytest.raises(Exception, match="not closed"):
        run(archive, day=today)


def test_a_day_closes_only_after_the_grace_hours(archive: Archive) -> None:
    two_tenants(archive)
    closes = datetime(2026, 1, 6, 6, tzinfo=UTC)

    assert run(archive, now=closes - timedelta(seconds=1)) == []
    assert [r.outcome for r in run(archive, now=closes)] == [Outcome.VERIFIED]


def test_running_twice_writes_the_same_objects_and_one_part_per_tenant(archive: Archive) -> None:
    two_tenants(archive)
    run(archive)
    first = [(p.key, p.sha256, p.bytes) for p in parts(archive)]
    manifest = archive.store.get_bytes(manifest_key(POSITIONS, DAY))

    assert run(archive) == []  # verified days are not due
    again = run(archive, day=DAY)

    assert [r.outcome for r in again] == [Outcome.VERIFIED, Outcome.EMPTY, Outcome.EMPTY]
    assert [(p.key, p.sha256, p.bytes) for p in parts(archive)] == first
    assert [archive.store.sha256(key) for key, _, _ in first] == [sha for _, sha, _ in first]
    assert archive.store.get_bytes(manifest_key(POSITIONS, DAY)) == manifest


def test_late_rows_make_a_verified_day_stale_and_the_next_run_rewrites_the_part(archive: Archive) -> None:
    a, _, ids = two_tenants(archive)
    run(archive)
    add_positions(archive.sessions, ids["bus-a1"], DAY, 5, start=40_000)

    stale = list(runner.verify(archive.sessions, archive.store, utcnow(), day=DAY, tables=["positions"]))

    assert [r.outcome for r in stale] == [Outcome.STALE]
    assert f"tenant {a.id} has 65 rows in the database, part 1 60" in stale[0].detail
    record = day_record(archive)
    assert record is not None and record.state == "stale"

    assert [(r.table, r.outcome) for r in run(archive)] == [("positions", Outcome.VERIFIED)]
    part = parts(archive)[0]
    assert (part.tenant_id, part.part, part.rows) == (a.id, 1, 65)
    assert len(file_rows(archive.store, part.key)) == 65


def test_rows_after_a_purge_go_to_the_next_part_and_the_manifest_lists_both(archive: Archive) -> None:
    a, b, ids = two_tenants(archive)
    run(archive)
    # What retention does: tenant a's rows leave the database, its part is marked purged.
    purged_at = datetime(2026, 4, 1, tzinfo=UTC)
    with archive.sessions() as session:
        session.execute(delete(Position).where(Position.vehicle_id.in_([ids["bus-a1"], ids["bus-a2"]])))
        session.execute(update(ArchivePart).where(ArchivePart.tenant_id == a.id).values(purged_at=purged_at))
        session.commit()
    add_positions(archive.sessions, ids["bus-a2"], DAY, 4, start=50_000)
    with archive.sessions() as session:
        session.execute(update(ArchiveDay).values(state="stale"))
        session.commit()

    assert [r.outcome for r in run(archive)] == [Outcome.VERIFIED]

    recorded = parts(archive)
    assert [(p.tenant_id, p.part, p.rows, p.purged_at is not None) for p in recorded] == [
        (a.id, 1, 60, True),
        (a.id, 2, 4, False),
        (b.id, 1, 20, False),
    ]
    assert len(file_rows(archive.store, recorded[0].key)) == 60
    assert [r["seq"] for r in file_rows(archive.store, recorded[1].key)] == [50_000, 50_001, 50_002, 50_003]
    manifest = json.loads(archive.store.get_bytes(manifest_key(POSITIONS, DAY)))
    assert [(p["tenant_id"], p["part"], p["purged_at"]) for p in manifest["parts"]] == [
        (a.id, 1, "2026-04-01T00:00:00.000000+00:00"),
        (a.id, 2, None),
        (b.id, 1, None),
    ]
    record = day_record(archive)
    assert record is not None and record.rows == 84


def test_a_part_changed_in_the_store_is_found_stale_and_exported_again(archive: Archive) -> None:
    two_tenants(archive)
    run(archive)
    first = parts(archive)[0]
    archive.store.put_bytes(first.key, b"not parquet")

    (result,) = runner.verify(archive.sessions, archive.store, utcnow(), day=DAY, tables=["positions"])

    assert result.outcome is Outcome.STALE and "SHA-256" in result.detail
    assert [r.outcome for r in run(archive)] == [Outcome.VERIFIED]
    assert archive.store.sha256(first.key) == first.sha256


def test_a_day_locked_by_another_worker_is_left_to_it_and_empty_partitions_are_not_due(pg_archive: Archive) -> None:
    two_tenants(pg_archive)
    with pg_archive.sessions() as session:
        ensure_partitions(session.connection(), "positions", [DAY - timedelta(days=1), DAY + timedelta(days=1)])
        session.commit()
    with pg_archive.sessions() as other:
        assert repository.try_lock(other, POSITIONS, DAY)

        assert [(r.day, r.outcome) for r in run(pg_archive)] == [(DAY, Outcome.BUSY)]
        assert day_record(pg_archive) is None
    assert [(r.day, r.outcome) for r in run(pg_archive)] == [(DAY, Outcome.VERIFIED)]
