"""Ingest's reaction to each class of database error, raised by a real PostgreSQL.

A trigger on positions raises an error with a chosen SQLSTATE for records north of 80 degrees, a given number
of times: data errors (22xxx, 23xxx) isolate the one message; connection, resource and conflict errors are
retried until the write succeeds; schema errors (42xxx) stop ingest without acknowledging anything.
"""

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, func, select, text

from fleet.db.engine import make_engine
from fleet.db.migrate import upgrade
from fleet.db.models import DeadLetter, Position
from ingest.service import SchemaMismatch
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.processes import IngestProcess
from tests.fixtures.publisher import Publisher

pytestmark = pytest.mark.integration

DEVICE = "refusal-bus"
TOPIC = f"fleet/v1/{DEVICE}/pos"


def position(seq: int, lat: float) -> dict[str, object]:
    return {"ts": f"2026-11-30T10:00:{seq:02d}Z", "seq": seq, "lat": lat, "lon": 16.4}


@pytest.fixture(scope="module")
def mosquitto() -> Iterator[MosquittoServer]:
    """A broker of this module alone: no other test's traffic reaches these consumers."""
    base = Path(tempfile.mkdtemp(prefix="fleet-mqtt-errors-"))
    server = MosquittoServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def database(postgres: PostgresServer, unique: str) -> Iterator[tuple[str, Engine]]:
    """A migrated database of this test alone (the trigger must not reach other tests)."""
    url = postgres.create_database(f"errors_{unique}")
    upgrade(url)
    engine = make_engine(url)
    seed_tenant(engine, f"errors-{unique}", [DEVICE])
    yield url, engine
    engine.dispose()


def refuse_northern_positions(engine: Engine, sqlstate: str, times: int) -> None:
    """Make inserts of positions north of 80 degrees fail `times` times with `sqlstate`."""
    with engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE refusals"))
        connection.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.lat > 80 AND nextval('refusals') <= {times} THEN "
                f"RAISE EXCEPTION 'refused for the test' USING ERRCODE = '{sqlstate}'; END IF; "
                "RETURN NEW; END $$"
            )
        )
        connection.execute(
            text("CREATE TRIGGER refuse BEFORE INSERT ON positions FOR EACH ROW EXECUTE FUNCTION refuse()")
        )


def stored_seqs(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.scalars(select(Position.seq).order_by(Position.seq)))


def dead_letter_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).where(DeadLetter.topic == TOPIC)) or 0)


def write_errors(kind: str) -> float:
    return REGISTRY.get_sample_value("fleet_ingest_write_errors_total", {"kind": kind}) or 0.0


@pytest.mark.parametrize("sqlstate", ["22023", "23514"], ids=["data_exception", "check_violation"])
def test_a_data_error_dead_letters_only_the_refused_message(
    database: tuple[str, Engine], mosquitto: MosquittoServer, sqlstate: str
) -> None:
    url, engine = database
    refuse_northern_positions(engine, sqlstate, times=1000)
    ingest = IngestThread(url, mosquitto.url, batch_max_seconds=0.5).start()
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish_many([(TOPIC, json.dumps(position(s, 85 if s == 2 else 48)).encode()) for s in (1, 2, 3)])
        wait_until(lambda: len(stored_seqs(engine)) == 2 and dead_letter_count(engine) == 1, "isolation")
        wait_until(lambda: REGISTRY.get_sample_value("fleet_ingest_pending_messages") == 0, "all acknowledged")
    finally:
        publisher.close()
        ingest.stop()

    assert stored_seqs(engine) == [1, 3]
    with engine.connect() as connection:
        letter = connection.execute(select(DeadLetter.reason, DeadLetter.detail, DeadLetter.tenant_id)).one()
    assert letter.reason == "store_error" and "refused for the test" in letter.detail
    assert letter.tenant_id is not None, "the tenant sees its store errors in the API"


@pytest.mark.parametrize(
    "sqlstate",
    ["57014", "53300", "40001", "25006"],
    ids=["query_canceled", "too_many_connections", "serialization_failure", "read_only_transaction"],
)
def test_a_server_side_fault_is_retried_until_the_write_succeeds(
    database: tuple[str, Engine], mosquitto: MosquittoServer, sqlstate: str
) -> None:
    url, engine = database
    refuse_northern_positions(engine, sqlstate, times=2)
    retried_before = write_errors("database")
    ingest = IngestThread(url, mosquitto.url).start()
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish(TOPIC, position(1, 85))
        wait_until(lambda: stored_seqs(engine) == [1], "the retried write", timeout=20)
    finally:
        publisher.close()
        ingest.stop()

    assert dead_letter_count(engine) == 0
    assert write_errors("database") >= retried_before + 2


def test_a_schema_error_stops_ingest_without_acknowledging(
    database: tuple[str, Engine], mosquitto: MosquittoServer, unique: str
) -> None:
    url, engine = database
    refuse_northern_positions(engine, "42P01", times=1)
    identity = {"client_id": f"schema-{unique}", "share_group": f"s{unique}", "session_expiry_seconds": 300}
    ingest = IngestThread(url, mosquitto.url, **identity).start()
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish(TOPIC, position(1, 85))
        ingest.thread.join(timeout=15)

        assert not ingest.thread.is_alive(), "ingest kept running after a schema error"
        assert isinstance(ingest.error, SchemaMismatch)
        assert "fleet migrate" in str(ingest.service.not_ready_reason())
        assert stored_seqs(engine) == [] and dead_letter_count(engine) == 0

        # The same consumer comes back to a fixed database: the broker still holds the unacknowledged message.
        again = IngestThread(url, mosquitto.url, **identity).start()
        try:
            wait_until(lambda: stored_seqs(engine) == [1], "the redelivered message")
        finally:
            again.stop()
    finally:
        publisher.close()


def test_fleet_ingest_on_an_unmigrated_database_exits_non_zero_and_loses_nothing(
    postgres: PostgresServer, mosquitto: MosquittoServer, unique: str, tmp_path: Path
) -> None:
    url = postgres.create_database(f"unmigrated_{unique}")
    client_id, group = f"unmigrated-{unique}", f"u{unique}"
    first = IngestProcess(url, mosquitto.url, client_id, group, tmp_path).start_ready()
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish(TOPIC, position(1, 48))
        assert first.process is not None
        assert first.process.wait(timeout=20) == 1
        assert "fleet migrate" in first.log()

        upgrade(url)
        engine = make_engine(url)
        seed_tenant(engine, f"unmigrated-{unique}", [DEVICE])
        second = IngestProcess(url, mosquitto.url, client_id, group, tmp_path).start_ready()
        try:
            wait_until(lambda: stored_seqs(engine) == [1], "the message kept by the broker")
        finally:
            second.terminate()
            engine.dispose()
    finally:
        publisher.close()
