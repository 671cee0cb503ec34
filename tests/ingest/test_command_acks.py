"""Commands' acks through the real ingest (Mosquitto, IngestService, its Store, PostgreSQL): the delivery-time
histogram and the dead letters of acks naming no command of their vehicle."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select, text

from fleet.commands import service as commands
from fleet.commands.acks import REASON_UNKNOWN_COMMAND
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import Command, DeadLetter, Vehicle
from tests.fixtures.factories import SeededTenant, seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.publisher import Publisher

pytestmark = pytest.mark.integration

DELIVERY = "fleet_ingest_command_delivery_seconds"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def ack(seq: int, command_id: int, state: str, **fields: object) -> dict[str, object]:
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return {"ts": ts, "seq": seq, "command_id": str(command_id), "state": state, **fields}


def sent_command(engine: Engine, device_id: str) -> Command:
    """A driver message for `device_id`'s unit, which the broker took (sent)."""
    with make_session_factory(engine)() as session:
        bus = session.scalars(select(Vehicle).where(Vehicle.device_id == device_id)).one()
        command, _ = commands.create(session, bus, "driver_message", {"text": "Depot at 18:00"})
        commands.mark_sent(session, [command.outbox_id or 0], datetime.now(UTC))
        session.commit()
        return command


def reload(engine: Engine, command: Command) -> Command:
    with make_session_factory(engine)() as session:
        return session.get_one(Command, command.id)


def letters_on(engine: Engine, topic: str) -> list[DeadLetter]:
    with engine.connect() as connection:
        return list(connection.execute(select(DeadLetter).where(DeadLetter.topic == topic).order_by(DeadLetter.id)))  # type: ignore[arg-type]


@pytest.fixture
def tenant(pg_engine: Engine, unique: str) -> SeededTenant:
    return seed_tenant(pg_engine, f"acks-{unique}", [f"bus-{unique}-a", f"bus-{unique}-b"])


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[Publisher]:
    client = Publisher(mosquitto.port)
    yield client
    client.close()


def test_the_delivery_time_is_observed_once_at_the_first_received_ack(
    pg_url: str, pg_engine: Engine, mosquitto: MosquittoServer, publisher: Publisher, tenant: SeededTenant
) -> None:
    device = tenant.device_ids[0]
    command = sent_command(pg_engine, device)
    count, total = sample(f"{DELIVERY}_count"), sample(f"{DELIVERY}_sum")
    ingest = IngestThread(pg_url, mosquitto.url).start()
    try:
        publisher.publish(f"fleet/v1/{device}/ack", ack(1, command.id, "received"))
        wait_until(lambda: reload(pg_engine, command).state == "delivered", "the command delivered")
        delivered = reload(pg_engine, command)
        assert delivered.delivered_at is not None
        assert sample(f"{DELIVERY}_count") == count + 1
        expected = (delivered.delivered_at - delivered.created_at).total_seconds()
        assert sample(f"{DELIVERY}_sum") - total == pytest.approx(expected, abs=1e-3)

        # The same ack again (a redelivery), a second `received`, then `done`: applied in order, none observed.
        first = ack(1, command.id, "received")
        for body in (first, first, ack(2, command.id, "received"), ack(3, command.id, "done", result={"shown": True})):
            publisher.publish(f"fleet/v1/{device}/ack", body)
        wait_until(lambda: reload(pg_engine, command).state == "done", "the command done")
    finally:
        ingest.stop()

    assert sample(f"{DELIVERY}_count") == count + 1
    assert reload(pg_engine, command).delivered_at == delivered.delivered_at


def test_an_ack_for_another_vehicles_or_an_unknown_command_is_dead_lettered_with_its_reason(
    pg_url: str, pg_engine: Engine, mosquitto: MosquittoServer, publisher: Publisher, tenant: SeededTenant
) -> None:
    a, b = tenant.device_ids
    command = sent_command(pg_engine, a)
    unknown = 2**62
    letters_before = sample("fleet_ingest_dead_letters_total", reason=REASON_UNKNOWN_COMMAND)
    rejected_before = sample("fleet_ingest_records_total", stream="ack", result="rejected")
    ingest = IngestThread(pg_url, mosquitto.url).start()
    try:
        publisher.publish(f"fleet/v1/{b}/ack", ack(1, command.id, "done"))
        publisher.publish(f"fleet/v1/{a}/ack", ack(1, unknown, "received"))
        wait_until(lambda: letters_on(pg_engine, f"fleet/v1/{a}/ack"), "the dead letter of the unknown command")
        wait_until(lambda: letters_on(pg_engine, f"fleet/v1/{b}/ack"), "the dead letter of the other bus's ack")
    finally:
        ingest.stop()

    (other,) = letters_on(pg_engine, f"fleet/v1/{b}/ack")
    (ghost,) = letters_on(pg_engine, f"fleet/v1/{a}/ack")
    assert (other.reason, other.device_id, other.tenant_id) == (REASON_UNKNOWN_COMMAND, b, tenant.id)
    assert other.detail == f"no command {command.id} of this vehicle"
    assert json.loads(other.payload)["command_id"] == str(command.id)
    assert (ghost.reason, ghost.device_id, ghost.tenant_id) == (REASON_UNKNOWN_COMMAND, a, tenant.id)
    assert ghost.detail == f"no command {unknown} of this vehicle"
    assert json.loads(ghost.payload)["state"] == "received"
    # The other bus's ack moved nothing, and both refusals are counted.
    refreshed = reload(pg_engine, command)
    assert (refreshed.state, refreshed.delivered_at) == ("sent", None)
    assert sample("fleet_ingest_dead_letters_total", reason=REASON_UNKNOWN_COMMAND) == letters_before + 2
    assert sample("fleet_ingest_records_total", stream="ack", result="rejected") == rejected_before + 2


@pytest.fixture
def database(postgres: PostgresServer, unique: str) -> Iterator[tuple[str, Engine]]:
    """A migrated database of this test alone (its trigger must not reach other tests)."""
    url = postgres.create_database(f"acks_{unique}")
    upgrade(url)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def test_a_batch_written_again_after_a_database_fault_observes_the_delivery_once(
    database: tuple[str, Engine], mosquitto: MosquittoServer, publisher: Publisher, unique: str
) -> None:
    url, engine = database
    device = f"bus-{unique}-retry"
    seed_tenant(engine, f"retry-{unique}", [device])
    command = sent_command(engine, device)
    # The batch's last write, its dead letter, fails once with a serialization failure: ingest rolls the whole
    # batch back and writes it again, applying the ack a second time.
    with engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE refusals"))
        connection.execute(
            text(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF nextval('refusals') <= 1 THEN "
                "RAISE EXCEPTION 'refused for the test' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$"
            )
        )
        connection.execute(
            text("CREATE TRIGGER refuse BEFORE INSERT ON dead_letters FOR EACH ROW EXECUTE FUNCTION refuse()")
        )
    count = sample(f"{DELIVERY}_count")
    retried = sample("fleet_ingest_write_errors_total", kind="database")
    ingest = IngestThread(url, mosquitto.url).start()
    try:
        # One message, so one batch: the command's first ack and an ack for no command (a dead letter).
        records = [ack(1, command.id, "received"), ack(2, 2**62, "received")]
        publisher.publish(f"fleet/v1/{device}/ack", {"records": records})
        wait_until(lambda: letters_on(engine, f"fleet/v1/{device}/ack"), "the batch committed", timeout=20)
    finally:
        ingest.stop()

    assert sample("fleet_ingest_write_errors_total", kind="database") >= retried + 1, "the batch was written again"
    assert reload(engine, command).state == "delivered"
    assert sample(f"{DELIVERY}_count") == count + 1
