"""The worker process loop: readiness, a schema fault that ends it, and its gauges."""

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from fleet.blobs.local import LocalBlobStore
from fleet.commands import service as commands
from fleet.commands.acks import Ack, apply_acks
from fleet.contract.records import AckRecord
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import Command, Vehicle, utcnow
from fleet.db.readiness import SchemaMismatch
from fleet.settings import SharedSettings, WorkerSettings
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import ServiceThread, wait_until
from tests.fixtures.postgres import PostgresServer
from worker import metrics
from worker.service import STUCK_AFTER, WorkerService

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


@pytest.fixture
def own_database(postgres: PostgresServer, unique: str) -> Iterator[tuple[str, Engine]]:
    """A migrated PostgreSQL database of this test alone: the gauges count every command in it."""
    url = postgres.create_database(f"worker_{unique}")
    upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def acknowledge(engine: Engine, command: Command, state: str, seq: int) -> None:
    """The unit's ack of `command`, applied as ingest applies it."""
    record = AckRecord(ts=datetime.now(UTC), seq=seq, command_id=str(command.id), state=state)  # type: ignore[arg-type]
    with engine.begin() as connection:
        assert apply_acks(connection, [Ack(command.vehicle_id, record, datetime.now(UTC))]) == []


def test_commands_sent_longer_ago_than_the_threshold_without_an_ack_count_as_stuck(
    own_database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = own_database
    seed_tenant(engine, "stuck", ["bus-s1"])
    now = utcnow()
    with make_session_factory(engine)() as session:
        bus = session.query(Vehicle).filter_by(device_id="bus-s1").one()
        _queued, stuck, recent, delivered, done = (
            commands.create(session, bus, "driver_message", {"text": f"message {n}"})[0] for n in range(5)
        )
        # Sent (the broker's PUBACK) at these times; `_queued` never left.
        for command, ago in [
            (stuck, STUCK_AFTER + timedelta(minutes=1)),
            (recent, STUCK_AFTER - timedelta(minutes=1)),
            (delivered, STUCK_AFTER * 2),
            (done, STUCK_AFTER * 4),
        ]:
            commands.mark_sent(session, [command.outbox_id or 0], now - ago)
        session.commit()
    acknowledge(engine, delivered, "received", 1)
    acknowledge(engine, done, "done", 2)
    # Values no pass sets, so what an earlier test's worker left cannot pass for this one's.
    metrics.COMMANDS.labels("driver_message", "sent").set(-1)
    metrics.COMMANDS_STUCK_SENT.set(-1)
    worker = worker_on(url, tmp_path, engine)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    runner.start()

    def gauge(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, labels)

    try:
        wait_until(lambda: gauge("fleet_worker_commands", type="driver_message", state="sent") == 2, "the gauges")
        # Only `stuck`: `recent` was sent within the threshold, `delivered` and `done` were acknowledged.
        assert gauge("fleet_worker_commands_stuck_sent") == 1
        counts = {s: gauge("fleet_worker_commands", type="driver_message", state=s) for s in ("queued", "delivered")}
        assert counts == {"queued": 1, "delivered": 1}

        # The unit answers at last: nothing is stuck any more.
        acknowledge(engine, stuck, "received", 3)
        wait_until(lambda: gauge("fleet_worker_commands_stuck_sent") == 0, "the stuck gauge back to 0", timeout=25)
    finally:
        stop.set()
        runner.join(timeout=10)
