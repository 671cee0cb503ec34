"""Faults: the blob store going away before and during an archive pass, and `fleet archive run` killed mid-export.

Neither loses a row or marks a day done early; the next run converges on the objects a clean run writes.
"""

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text

from fleet.archive import runner
from fleet.archive.layout import POSITIONS, part_key
from fleet.archive.results import Outcome
from fleet.blobs.store import BlobStore
from fleet.db.models import ArchiveDay, ArchivePart, utcnow
from fleet.db.partitions import ensure_partitions
from fleet.settings import ArchiveSettings
from tests.archive.conftest import Archive
from tests.archive.seed import DAY, add_positions, at, vehicle_ids
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.processes import FleetProcess
from tests.fixtures.s3 import SeaweedServer, s3_store_for
from worker.archive import ArchiveStep

pytestmark = pytest.mark.integration

SETTINGS = ArchiveSettings(batch_rows=1000)


@pytest.fixture(scope="module")
def own_s3() -> Iterator[SeaweedServer]:
    """A SeaweedFS of the module's own, to kill and restart."""
    base = Path(tempfile.mkdtemp(prefix="fleet-s3-archive-"))
    server = SeaweedServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


class KillsAfterFirstPut:
    """A store that takes the server down right after the first object is written: an outage mid-pass."""

    def __init__(self, store: BlobStore, server: SeaweedServer) -> None:
        self.store = store
        self.server = server
        self.puts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        self.store.put_bytes(key, data, content_type)
        self._written()

    def put_file(self, key: str, source: BinaryIO, size: int, content_type: str | None = None) -> None:
        self.store.put_file(key, source, size, content_type)
        self._written()

    def _written(self) -> None:
        self.puts += 1
        if self.puts == 1:
            self.server.kill()


def failures(reason: str) -> float:
    return REGISTRY.get_sample_value("fleet_archive_failures_total", {"reason": reason}) or 0.0


def recorded(archive: Archive) -> tuple[int, int]:
    """(archive_days rows, archive_parts rows)."""
    with archive.sessions() as session:
        days = session.scalar(select(func.count()).select_from(ArchiveDay))
        parts = session.scalar(select(func.count()).select_from(ArchivePart))
        return int(days or 0), int(parts or 0)


def advisory_locks(archive: Archive) -> int:
    with archive.sessions() as session:
        return int(
            session.scalar(
                text(
                    "SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database "
                    "WHERE locktype = 'advisory' AND datname = current_database()"
                )
            )
            or 0
        )


def seed_two_tenants(archive: Archive) -> None:
    seed_tenant(archive.engine, "a", ["bus-a1"])
    seed_tenant(archive.engine, "b", ["bus-b1"])
    ids = vehicle_ids(archive.sessions, ["bus-a1", "bus-b1"])
    add_positions(archive.sessions, ids["bus-a1"], DAY, 50)
    add_positions(archive.sessions, ids["bus-b1"], DAY, 40)


@pytest.mark.parametrize("when", ["before", "during"])
def test_the_store_down_marks_nothing_counts_and_the_next_pass_converges(
    pg_archive: Archive, own_s3: SeaweedServer, when: str
) -> None:
    seed_two_tenants(pg_archive)
    bucket = own_s3.create_bucket()
    store = s3_store_for(own_s3, bucket, max_attempts=1)
    unavailable = failures("store_unavailable")
    if when == "before":
        own_s3.kill()
        step_store: Any = store
    else:
        step_store = KillsAfterFirstPut(store, own_s3)

    try:
        ArchiveStep(pg_archive.sessions, step_store, SETTINGS).run_when_due()

        assert recorded(pg_archive) == (0, 0)
        assert failures("store_unavailable") == unavailable + 1
        assert REGISTRY.get_sample_value("fleet_archive_lag_seconds") > 0
    finally:
        own_s3.start()

    ArchiveStep(pg_archive.sessions, store, SETTINGS).run_when_due()

    assert recorded(pg_archive) == (1, 2)
    with pg_archive.sessions() as session:
        day = session.get(ArchiveDay, ("positions", DAY))
        assert day is not None and day.state == "verified" and day.rows == 90
        parts = session.scalars(select(ArchivePart)).all()
    assert all(store.sha256(part.key) == part.sha256 for part in parts)
    assert REGISTRY.get_sample_value("fleet_archive_lag_seconds") == 0


@pytest.mark.parametrize(
    "command",
    [["archive", "run", "--day", DAY.isoformat(), "--table", "positions"], ["worker"]],
    ids=["fleet-archive-run", "fleet-worker"],
)
def test_a_kill_mid_export_leaves_the_day_undone_and_a_rerun_writes_what_a_clean_run_does(
    pg_archive: Archive, s3: SeaweedServer, tmp_path: Path, command: list[str]
) -> None:
    tenants = [seed_tenant(pg_archive.engine, f"t{n}", [f"bus-k{n}"]) for n in range(4)]
    ids = vehicle_ids(pg_archive.sessions, [f"bus-k{n}" for n in range(4)])
    with pg_archive.sessions() as session:
        ensure_partitions(session.connection(), "positions", [DAY])
        for vehicle_id in ids.values():
            session.execute(
                text(
                    "INSERT INTO positions (vehicle_id, ts, seq, lat, lon, speed_kmh, sats, received_at) "
                    "SELECT :vehicle, :start + n * interval '3 seconds', n, 48 + n / 1e6, 11 - n / 1e6, n % 90, 9, "
                    ":start + n * interval '3 seconds' FROM generate_series(0, 24999) AS n"
                ),
                {"vehicle": vehicle_id, "start": at(DAY, 0)},
            )
        session.commit()
    bucket = s3.create_bucket()
    store = s3_store_for(s3, bucket)
    env = {
        "FLEET_DATABASE_URL": pg_archive.url,
        "FLEET_DATA_DIR": str(tmp_path),
        "FLEET_S3_BUCKET": bucket,
        "FLEET_S3_ENDPOINT_URL": s3.endpoint_url,
        "FLEET_S3_ACCESS_KEY_ID": s3.access_key_id,
        "FLEET_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        "FLEET_ARCHIVE_BATCH_ROWS": "1000",
        # The worker archives at its first pass: the day is long closed.
        "FLEET_WORKER_HTTP_PORT": "0",
    }
    first_part = part_key(POSITIONS, DAY, tenants[0].id, 1)
    process = FleetProcess(command, env, tmp_path / "archive.log").start()
    try:
        deadline = time.monotonic() + 60
        while store.head(first_part) is None:
            assert process.process is not None and process.process.poll() is None, process.log()
            assert time.monotonic() < deadline, "no part written within 60 s"
            time.sleep(0.01)
        process.kill()
    finally:
        process.kill()

    assert recorded(pg_archive) == (0, 0), "the kill came after the commit: the export was too quick to interrupt"
    # The killed process's server backend ends (releasing the day's lock) once it notices the closed connection.
    wait_until(lambda: not advisory_locks(pg_archive), "the killed export's lock released")

    (rerun,) = runner.run(pg_archive.sessions, store, SETTINGS, utcnow(), day=DAY, tables=["positions"])

    assert rerun.outcome is Outcome.VERIFIED and rerun.rows == 100_000
    with pg_archive.sessions() as session:
        parts = session.scalars(select(ArchivePart).order_by(ArchivePart.tenant_id)).all()
    assert [(part.tenant_id, part.part, part.rows) for part in parts] == [(t.id, 1, 25_000) for t in tenants]
    clean = s3_store_for(s3, s3.create_bucket())
    (again,) = runner.run(pg_archive.sessions, clean, SETTINGS, utcnow(), day=DAY, tables=["positions"])
    assert again.outcome is Outcome.VERIFIED
    assert [store.sha256(part.key) for part in parts] == [clean.sha256(part.key) for part in parts]
    assert [store.sha256(part.key) for part in parts] == [part.sha256 for part in parts]
