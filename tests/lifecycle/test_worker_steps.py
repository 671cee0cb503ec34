"""The worker's partitions ahead and its fleet-wide vehicle gauge."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select

from fleet.blobs.local import LocalBlobStore
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import Vehicle, VehicleState
from fleet.settings import SharedSettings, WorkerSettings
from tests.fixtures.factories import seed_tenant
from tests.lifecycle.seed import partitions
from worker import vehicles
from worker.partitions import PartitionsStep
from worker.service import WorkerService

pytestmark = pytest.mark.integration


def test_a_worker_pass_creates_the_partitions_of_the_next_days_and_again_is_harmless(
    pg: Engine, tmp_path: Path
) -> None:
    store = LocalBlobStore(tmp_path / "blobs", b"k" * 32, "http://127.0.0.1:1/v1/blobs")
    url = pg.url.render_as_string(hide_password=False)
    settings = WorkerSettings(http_port=0, partitions_ahead_days=2)
    worker = WorkerService(SharedSettings(database_url=url), settings, store=store, engine=pg)
    today = datetime.now(UTC).date()
    ahead = {today + timedelta(days=n) for n in range(3)}

    worker.run_once()

    assert partitions(pg, "positions") == ahead
    assert partitions(pg, "can_samples") == ahead
    PartitionsStep(pg, 2).run()
    assert partitions(pg, "positions") == ahead


def test_the_worker_counts_vehicles_reporting_silent_and_offline(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    seed_tenant(engine, "gauge", ["r1", "r2", "s1", "o1"])
    now = datetime.now(UTC)
    sessions = make_session_factory(engine)
    with sessions() as session:
        ids = {device: vehicle for device, vehicle in session.execute(select(Vehicle.device_id, Vehicle.id))}
        for device, online, age in (("r1", True, 5), ("r2", None, 10), ("s1", True, 600), ("o1", False, 600)):
            session.add(VehicleState(vehicle_id=ids[device], online=online, pos_ts=now - timedelta(seconds=age),
                                     pos_seq=1, lat=1.0, lon=1.0, updated_at=now))  # fmt: skip
        session.commit()
        vehicles.refresh_gauge(session, now, timedelta(seconds=300))
    engine.dispose()
    counts = [REGISTRY.get_sample_value("fleet_vehicles", {"state": s}) for s in ("reporting", "silent", "offline")]
    assert counts == [2, 1, 1]
