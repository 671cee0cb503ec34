"""Fault tests: kill and restart ingest, the broker and the database mid-stream; nothing lost, nothing twice."""

import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.processes import IngestProcess
from tests.fixtures.stream import FaultAt, KnownStream, RetryingPublisher, discrepancies, known_stream, stored_count

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEVICES = 10
PER_DEVICE = 300  # 3,000 single-record messages
RATE = 1000.0  # messages per second: the stream lasts about 3 s, faults strike in the middle


@pytest.fixture(scope="module")
def fault_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="fleet-faults-"))
    base.chmod(0o755)  # the servers run as users postgres and mosquitto
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def fault_postgres(fault_dir: Path) -> Iterator[PostgresServer]:
    """A database these tests may stop and start without disturbing the others."""
    server = PostgresServer(fault_dir / "pg")
    server.start()
    yield server
    server.stop("immediate")


@pytest.fixture(scope="module")
def fault_db(fault_postgres: PostgresServer) -> Iterator[tuple[str, Engine]]:
    url = fault_postgres.create_database("faults")
    upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


@pytest.fixture
def broker(fault_dir: Path) -> Iterator[MosquittoServer]:
    server = MosquittoServer(fault_dir / f"mqtt-{uuid.uuid4().hex[:6]}")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def scenario(fault_db: tuple[str, Engine], broker: MosquittoServer, fault_dir: Path) -> Iterator["Scenario"]:
    run = Scenario(fault_db[0], fault_db[1], broker, fault_dir)
    yield run
    run.close()


class Scenario:
    """A tenant with devices, ingest processes in one share group, a publisher and the known stream."""

    def __init__(self, url: str, engine: Engine, broker: MosquittoServer, log_dir: Path) -> None:
        self.url, self.engine, self.broker, self.log_dir = url, engine, broker, log_dir
        tag = uuid.uuid4().hex[:6]
        self.tag = tag
        devices = [f"f{tag}-{i:02d}" for i in range(DEVICES)]
        seed_tenant(engine, f"faults-{tag}", devices)
        self.stream: KnownStream = known_stream(devices, PER_DEVICE)
        self.ingests: list[IngestProcess] = []
        self.publisher: RetryingPublisher | None = None

    def ingest(self, name: str = "a", shared: bool = True) -> IngestProcess:
        group = f"g{self.tag}" if shared else ""
        process = IngestProcess(self.url, self.broker.url, f"ingest-{self.tag}-{name}", group, self.log_dir)
        self.ingests.append(process)
        return process.start_ready()

    def publish(self, fault_at: float, fault: Callable[[], None]) -> None:
        self.publisher = RetryingPublisher(self.broker.port, f"pub-{self.tag}")
        messages = self.stream.messages()
        fault_due = FaultAt(fault_at, len(messages), fault)
        self.publisher.publish_all(messages, RATE, fault_due)
        # What is asserted next reads the database and the processes: only once the fault has put them back.
        fault_due.join(timeout=60)

    def assert_exact(self) -> None:
        total = DEVICES * PER_DEVICE
        with contextlib.suppress(AssertionError):
            wait_until(lambda: stored_count(self.engine, self.stream) >= total, "every record stored", timeout=30)
        problems = discrepancies(self.stream, self.engine)
        assert problems == {"lost": [], "lost_count": 0, "duplicated": [], "unexpected": []}

    def close(self) -> None:
        if self.publisher:
            self.publisher.close()
        for process in self.ingests:
            process.terminate()


def crash_and_restart(ingest: IngestProcess) -> Callable[[], None]:
    """SIGKILL, then a second later the same process (same client id) again."""

    def fault() -> None:
        ingest.kill()
        time.sleep(1)
        ingest.start_ready()

    return fault


def test_sigkill_ingest_mid_stream_then_restart(scenario: Scenario) -> None:
    scenario.publish(0.4, crash_and_restart(scenario.ingest()))
    scenario.assert_exact()


def test_broker_restart_mid_stream(scenario: Scenario) -> None:
    # A plain subscription: mosquitto 2.0 restores it with the session, while a $share group loses what
    # arrives before its members reconnect (measured, see docs/reliability.md).
    scenario.ingest(shared=False)

    def restart_broker() -> None:
        scenario.broker.stop()
        time.sleep(1)
        scenario.broker.start()

    scenario.publish(0.4, restart_broker)
    scenario.assert_exact()


def test_database_down_mid_stream(scenario: Scenario, fault_postgres: PostgresServer) -> None:
    ingest = scenario.ingest()
    observed: dict[str, float] = {"rss_before": ingest.rss_bytes()}
    readiness: list[object] = []

    def database_outage() -> None:
        fault_postgres.stop("fast")
        try:
            wait_until(lambda: ingest.readiness()[0] == 503, "ingest reports not ready", timeout=15)
            readiness.append(ingest.readiness())
            time.sleep(3)
            observed["pending"] = ingest.metric("fleet_ingest_pending_messages")
            observed["oldest"] = ingest.metric("fleet_ingest_oldest_pending_age_seconds")
            observed["errors"] = ingest.metric("fleet_ingest_write_errors_total")
            observed["rss_during"] = ingest.rss_bytes()
        finally:
            fault_postgres.start()

    scenario.publish(0.3, database_outage)
    scenario.assert_exact()
    assert readiness == [(503, {"detail": "database unreachable"})]
    # The broker holds the backlog: ingest holds at most its Receive Maximum (twice the 500-message batch).
    assert 0 < observed["pending"] <= 1000
    assert observed["oldest"] >= 2.0
    assert observed["errors"] >= 2  # retried with backoff
    assert observed["rss_during"] - observed["rss_before"] < 50 * 2**20
    wait_until(ingest.ready, "ingest ready again after the outage")
    assert ingest.metric("fleet_ingest_pending_messages") == 0


def test_shared_group_worker_killed_and_restarted_with_same_id(scenario: Scenario) -> None:
    scenario.ingest("a")
    scenario.publish(0.4, crash_and_restart(scenario.ingest("b")))
    scenario.assert_exact()


def test_rolling_restart_with_sigterm_loses_nothing(scenario: Scenario) -> None:
    first = scenario.ingest("a")
    second = scenario.ingest("b")

    def rolling_restart() -> None:
        for worker in (first, second):
            worker.terminate()
            worker.start_ready()

    scenario.publish(0.2, rolling_restart)
    scenario.assert_exact()


def test_scale_down_drains_the_removed_replicas_session(scenario: Scenario) -> None:
    """docs/deploy.md's scale-down: the removed member's share waits for its id, until a drain run ends the session."""
    scenario.ingest("a")
    removed = scenario.ingest("b")
    scenario.publish(0.3, removed.terminate)
    time.sleep(2)
    total = DEVICES * PER_DEVICE
    assert stored_count(scenario.engine, scenario.stream) < total, "the broker queued a share for the absent member"

    drain = IngestProcess(
        scenario.url, scenario.broker.url, f"ingest-{scenario.tag}-b", f"g{scenario.tag}", scenario.log_dir
    )
    drain.env["FLEET_INGEST_SESSION_EXPIRY_SECONDS"] = "0"
    scenario.ingests.append(drain)
    drain.start_ready()
    scenario.assert_exact()
    drain.terminate()

    # The session is gone: everything published from now on reaches the remaining member.
    later_devices = [f"f{scenario.tag}-later-{i}" for i in range(DEVICES)]
    seed_tenant(scenario.engine, f"faults-{scenario.tag}-later", later_devices)
    later = known_stream(later_devices, 50)
    assert scenario.publisher is not None
    scenario.publisher.publish_all(later.messages(), RATE)
    with contextlib.suppress(AssertionError):
        wait_until(lambda: stored_count(scenario.engine, later) >= DEVICES * 50, "later records stored", timeout=15)
    assert discrepancies(later, scenario.engine) == {"lost": [], "lost_count": 0, "duplicated": [], "unexpected": []}


def test_sigterm_during_a_backlog_drain_stops_promptly_and_loses_nothing(scenario: Scenario) -> None:
    """Shutdown commits what was received, not the whole backlog; the rest waits for the next session."""
    ingest = scenario.ingest(shared=False)
    ingest.terminate()
    backlog = known_stream(scenario.stream.device_ids, 3_000)  # 30,000 messages queued for the offline session
    scenario.publisher = RetryingPublisher(scenario.broker.port, f"pub-{scenario.tag}")
    scenario.publisher.publish_all(backlog.messages(), 30_000)

    ingest.start()
    wait_until(lambda: stored_count(scenario.engine, backlog) >= 1_000, "the drain under way")
    ingest.terminate()  # fails the test unless the process exits within 20 s
    assert stored_count(scenario.engine, backlog) < 30_000, "shutdown stopped taking messages"

    ingest.start_ready()
    with contextlib.suppress(AssertionError):
        wait_until(lambda: stored_count(scenario.engine, backlog) >= 30_000, "the rest of the backlog", timeout=60)
    assert discrepancies(backlog, scenario.engine) == {"lost": [], "lost_count": 0, "duplicated": [], "unexpected": []}
