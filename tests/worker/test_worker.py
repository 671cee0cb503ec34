"""The worker process loop: readiness, a schema fault that ends it, and its gauges."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from fleet.blobs.local import LocalBlobStore
from fleet.commands import service as commands
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.models import Vehicle, utcnow
from fleet.db.readiness import SchemaMismatch
from fleet.settings import SharedSettings, WorkerSettings
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import ServiceThread, wait_until
from worker.service import WorkerService

pytestmark = pytest.mark.integration


def worker_on(database_url: str, tmp_path: Path, engine: Engine | None = None) -> WorkerService:
    store = LocalBlobStore(tmp_path / "blobs", b"k" * 32, "http://127.0.0.1:1/v1/blobs")
    settings = WorkerSettings(http_port=0, poll_interval_seconds=0.05)
    return WorkerService(SharedSettings(database_url=database_url), settings, store=store, engine=engine)


def test_an_unmigrated_database_stops_the_worker_naming_fleet_migrate(tmp_path: Path) -> None:
    worker = worker_on(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path)
    thread = ServiceThread(worker)
    thread.thread.start()
    wait_until(lambda: not thread.thread.is_alive(), "the worker stopped")

    assert isinstance(thread.error, SchemaMismatch)
    reason = worker.not_ready_reason()
    assert reason is not None and "fleet migrate" in reason
    worker.engine.dispose()


def test_the_worker_is_ready_and_counts_commands_by_type_and_state(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    seed_tenant(engine, "gauges", ["bus-g1"])
    with make_session_factory(engine)() as session:
        bus = session.query(Vehicle).filter_by(device_id="bus-g1").one()
        commands.create(session, bus, "reboot", {})
        # Registered 91 days ago and never downloaded: its vehicle unit is overdue.
        bus.created_at = utcnow() - timedelta(days=91)
        session.commit()
    worker = worker_on(sqlite_url, tmp_path, engine)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_until(lambda: worker.not_ready_reason() is None, "the worker ready")
        wait_until(
            lambda: REGISTRY.get_sample_value("fleet_worker_commands", {"type": "reboot", "state": "queued"}) == 1,
            "the commands gauge",
        )
        overdue = {"kind": "vehicle_unit"}
        wait_until(lambda: REGISTRY.get_sample_value("fleet_tachograph_overdue", overdue) == 1, "the tachograph gauge")
    finally:
        stop.set()
        runner.join(timeout=10)
        engine.dispose()
