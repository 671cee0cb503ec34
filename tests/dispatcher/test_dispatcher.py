"""The dispatcher against real PostgreSQL and Mosquitto: delivery, holding for offline units, expiry, two replicas,
a crash between PUBACK and commit, and a broker outage. What the unit receives is compared with the outbox."""

import json
import secrets
import shutil
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine, select

from dispatcher.mqtt_publisher import Outgoing
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import DeadLetter, Vehicle, utcnow
from fleet.db.readiness import SchemaMismatch
from fleet.deadletters import service as deadletters
from fleet.mqtt.dynsec import bootstrap_config, hash_password
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import MqttEndpoint
from fleet.outbox import service as outbox
from tests.fixtures.downlink import DispatcherThread, HeldBeforeSent, Unit, enqueue, row, set_online, states, unit
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.processes import DispatcherProcess
from tests.fixtures.publisher import Publisher

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ADMIN = ("fleet-admin", secrets.token_urlsafe(16))
SERVICES = {identity: secrets.token_urlsafe(16) for identity in ServiceIdentity}


@dataclass(frozen=True)
class Database:
    url: str
    engine: Engine


@pytest.fixture(scope="module")
def db(postgres: PostgresServer) -> Iterator[Database]:
    """A database of its own: the dispatchers here see only this module's messages."""
    url = postgres.create_database("dispatcher")
    upgrade(url)
    engine = make_engine(url)
    yield Database(url, engine)
    engine.dispose()


def register(engine: Engine, *device_ids: str) -> None:
    seed_tenant(engine, f"downlink-{uuid.uuid4().hex[:8]}", list(device_ids))


def sent_count(result: str) -> float:
    return REGISTRY.get_sample_value("fleet_dispatcher_messages_total", {"result": result}) or 0.0


@pytest.fixture
def devices(db: Database, unique: str) -> list[str]:
    """Three registered vehicles, no status known yet."""
    ids = [f"bus-{unique}-{i}" for i in range(3)]
    register(db.engine, *ids)
    return ids


# --- delivery, as in production: the publisher identity and a unit's own credential --------------------------------


@dataclass
class AccessBroker:
    server: MosquittoServer
    device_id: str
    password: str

    def url(self, identity: ServiceIdentity) -> str:
        return f"mqtt://{identity.value}:{SERVICES[identity]}@127.0.0.1:{self.server.port}"

    def unit_endpoint(self) -> MqttEndpoint:
        return MqttEndpoint("127.0.0.1", self.server.port, self.device_id, self.password)


@pytest.fixture(scope="module")
def access_broker(db: Database) -> Iterator[AccessBroker]:
    """The shipped broker configuration with access control, knowing one unit, registered and online."""
    base = Path(tempfile.mkdtemp(prefix="fleet-dispatch-access-"))
    device_id, password = f"unit-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(24)
    register(db.engine, device_id)
    set_online(db.engine, device_id, True)
    server = MosquittoServer(base, access=bootstrap_config(ADMIN, SERVICES, {device_id: hash_password(password)}))
    server.start()
    yield AccessBroker(server, device_id, password)
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_a_message_for_an_online_unit_arrives_with_its_expiry_and_id(db: Database, access_broker: AccessBroker) -> None:
    device_id = access_broker.device_id
    # The unit connects as itself (client id = device id) and may subscribe to its own downlink only.
    receiver = Unit(access_broker.unit_endpoint(), f"fleet/v1/{device_id}/cmd", client_id=device_id)
    dispatcher = DispatcherThread(db.url, access_broker.url(ServiceIdentity.PUBLISHER)).start()
    sent_before = sent_count("sent")
    try:
        started = utcnow()
        message_id = enqueue(db.engine, device_id, {"op": "reboot"}, expires_in=timedelta(seconds=120))
        wait_until(receiver.messages, "the command at the unit")
        (received,) = receiver.messages()
        assert received.topic == f"fleet/v1/{device_id}/cmd"
        assert json.loads(received.payload) == {"op": "reboot"}
        # The broker forwards what is left of the Message Expiry Interval the dispatcher set from expires_at.
        assert received.expiry_seconds is not None and 110 <= received.expiry_seconds <= 120
        assert received.message_id == str(message_id)
        wait_until(lambda: row(db.engine, message_id).state == "sent", "the row marked sent")
        stored = row(db.engine, message_id)
        assert stored.attempts == 1 and stored.last_error is None
        assert stored.sent_at is not None and started <= stored.sent_at <= utcnow()
        wait_until(lambda: sent_count("sent") == sent_before + 1, "the send counted after the pass")
        with urllib.request.urlopen(f"http://127.0.0.1:{dispatcher.service.health.port}/readyz", timeout=2) as answer:
            assert answer.status == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{dispatcher.service.health.port}/metrics", timeout=2) as answer:
            exposition = answer.read().decode()
        assert "fleet_dispatcher_publish_duration_seconds_count" in exposition
    finally:
        dispatcher.stop()
        receiver.close()


def test_a_refused_publish_stays_pending_and_counts_as_failed(db: Database, access_broker: AccessBroker) -> None:
    """Connected with an identity that may not publish downlink (ingest's), every attempt is refused (PUBACK 0x87):
    counted with its reason, never marked sent."""
    failed_before = sent_count("failed")
    dispatcher = DispatcherThread(db.url, access_broker.url(ServiceIdentity.INGEST)).start()
    message_id = enqueue(db.engine, access_broker.device_id, b"{}")
    try:
        wait_until(lambda: row(db.engine, message_id).attempts >= 2, "two refused attempts recorded")
        stored = row(db.engine, message_id)
        assert stored.state == "pending" and stored.sent_at is None
        assert stored.last_error == "refused by the broker: Not authorized (0x87)"
        wait_until(lambda: sent_count("failed") >= failed_before + 2, "the refusals counted after their pass")
    finally:
        dispatcher.stop()
        with make_session_factory(db.engine)() as session:
            outbox.cancel(session, row(db.engine, message_id).tenant_id, message_id)
            session.commit()


# --- holding, expiry ------------------------------------------------------------------------------------------------


def test_a_message_for_an_offline_unit_is_held_until_its_status_turns_online(
    db: Database, mosquitto: MosquittoServer, devices: list[str]
) -> None:
    device_id = devices[0]
    receiver = unit(mosquitto.url, f"fleet/v1/{device_id}/cmd")
    ingest = IngestThread(db.url, mosquitto.url).start()
    dispatcher = DispatcherThread(db.url, mosquitto.url).start()
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish(f"fleet/v1/{device_id}/status", {"ts": iso(utcnow()), "seq": 1, "state": "offline"}, True)
        message_id = enqueue(db.engine, device_id, b"held")
        time.sleep(0.6)  # six passes of the dispatcher
        assert receiver.messages() == []
        assert (row(db.engine, message_id).state, row(db.engine, message_id).attempts) == ("pending", 0)
        # The unit comes back: its retained status says online, ingest stores it, the dispatcher sends.
        publisher.publish(f"fleet/v1/{device_id}/status", {"ts": iso(utcnow()), "seq": 2, "state": "online"}, True)
        wait_until(receiver.messages, "the held message at the unit")
        assert [m.payload for m in receiver.messages()] == [b"held"]
        wait_until(lambda: row(db.engine, message_id).state == "sent", "the row marked sent")
    finally:
        publisher.publish(f"fleet/v1/{device_id}/status", b"", retain=True)  # clear the retained status
        publisher.close()
        dispatcher.stop()
        ingest.stop()
        receiver.close()


def test_a_message_expired_before_delivery_is_never_published(
    db: Database, mosquitto: MosquittoServer, devices: list[str]
) -> None:
    device_id = devices[0]
    set_online(db.engine, device_id, False)
    receiver = unit(mosquitto.url, f"fleet/v1/{device_id}/cmd")
    dispatcher = DispatcherThread(db.url, mosquitto.url).start()
    expired_before = sent_count("expired")
    try:
        stale = enqueue(db.engine, device_id, b"stale", expires_in=timedelta(seconds=1))
        wait_until(lambda: row(db.engine, stale).state == "expired", "the message expired")
        # Counted once the pass that expired it ends (after its commit).
        wait_until(lambda: sent_count("expired") >= expired_before + 1, "the expiry counted")
        # Online now, with a later message: it arrives, and the expired one (older, so it would come first) never does.
        set_online(db.engine, device_id, True)
        marker = enqueue(db.engine, device_id, b"marker")
        wait_until(receiver.messages, "the later message")
        assert receiver.ids() == [marker]
        assert (row(db.engine, stale).state, row(db.engine, stale).attempts, row(db.engine, stale).sent_at) == (
            "expired",
            0,
            None,
        )
    finally:
        dispatcher.stop()
        receiver.close()


# --- several dispatchers ------------------------------------------------------------------------------------------


def test_two_dispatchers_never_send_a_message_twice_and_keep_each_units_order(
    db: Database, mosquitto: MosquittoServer, unique: str
) -> None:
    device_ids = [f"pair-{unique}-{i}" for i in range(8)]
    register(db.engine, *device_ids)
    for device_id in device_ids:
        set_online(db.engine, device_id, True)
    receiver = unit(mosquitto.url, "fleet/v1/+/cmd")
    dispatchers = [
        DispatcherThread(db.url, mosquitto.url, batch_size=7, poll_interval_seconds=0.05).start() for _ in range(2)
    ]
    published = [0, 0]
    lock = threading.Lock()
    for index, dispatcher in enumerate(dispatchers):
        original = dispatcher.service.client.publish

        def counting(
            messages: Sequence[Outgoing], timeout: float, index: int = index, original: object = original
        ) -> dict[int, str | None]:
            with lock:
                published[index] += len(messages)
            # The first holds its claimed rows a while before publishing: without the claim's per-vehicle locking
            # the other would send those vehicles' later messages first.
            time.sleep(0.03 if index == 0 else 0.001)
            return original(messages, timeout)  # type: ignore[operator,no-any-return]

        dispatcher.service.client.publish = counting  # type: ignore[method-assign]
    try:
        # One transaction: every message becomes visible to both dispatchers at once.
        with make_session_factory(db.engine)() as session:
            vehicles = {
                v.device_id: v for v in session.scalars(select(Vehicle).where(Vehicle.device_id.in_(device_ids)))
            }
            expires = utcnow() + timedelta(minutes=5)
            ids = [
                outbox.enqueue(session, vehicles[device_id], "cmd", f"{device_id}:{n}".encode(), expires).id
                for n in range(25)
                for device_id in device_ids
            ]
            session.commit()
        wait_until(lambda: set(states(db.engine, ids).values()) == {"sent"}, "every message sent", timeout=60)
        wait_until(lambda: len(receiver.ids()) >= len(ids), "every message at the units")
        time.sleep(0.3)  # a duplicate would arrive right behind
        received = receiver.ids()
        assert sorted(received) == sorted(ids), "a message arrived twice, or not at all"
        assert sum(published) == len(ids) and min(published) > 0, published
        for device_id in device_ids:
            payloads = [m.payload.decode() for m in receiver.messages() if m.topic == f"fleet/v1/{device_id}/cmd"]
            assert payloads == [f"{device_id}:{n}" for n in range(25)]
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        receiver.close()


# --- faults -------------------------------------------------------------------------------------------------------

HOLD_LOCK = 424242


def test_a_dispatcher_killed_between_puback_and_commit_sends_again_after_restart(
    db: Database, mosquitto: MosquittoServer, devices: list[str], tmp_path: Path
) -> None:
    device_id = devices[0]
    set_online(db.engine, device_id, True)
    receiver = unit(mosquitto.url, f"fleet/v1/{device_id}/cmd")
    hold = HeldBeforeSent(db.engine)
    first = DispatcherProcess(db.url, mosquitto.url, tmp_path / "first.log").start_ready()
    second: DispatcherProcess | None = None
    try:
        message_id = enqueue(db.engine, device_id, b"at-least-once")
        wait_until(receiver.messages, "the first copy at the unit")

        wait_until(hold.waiting, "the dispatcher waiting to mark the message sent")
        first.kill()
        # The killed dispatcher's transaction dies with its connection (ended here rather than at its next read).
        hold.release()
        wait_until(lambda: row(db.engine, message_id).state == "pending", "the claim released")
        assert row(db.engine, message_id).attempts == 0

        second = DispatcherProcess(db.url, mosquitto.url, tmp_path / "second.log").start_ready()
        wait_until(lambda: len(receiver.messages()) == 2, "the second copy at the unit")
        wait_until(lambda: row(db.engine, message_id).state == "sent", "the row marked sent")
        # The same message twice, with the same id: the unit drops the repeat by it. Nothing lost.
        assert [(m.payload, m.message_id) for m in receiver.messages()] == [(b"at-least-once", str(message_id))] * 2
        assert row(db.engine, message_id).attempts == 1
        second.terminate()
        assert second.process is not None and second.process.returncode == 0, second.log()
        assert "dispatcher stopped" in second.log()
    finally:
        first.kill()
        if second:
            second.kill()
        hold.close()
        receiver.close()


@pytest.fixture
def own_broker() -> Iterator[MosquittoServer]:
    """A development broker this test may stop and start (its persistence keeps the unit's session)."""
    base = Path(tempfile.mkdtemp(prefix="fleet-dispatch-outage-"))
    server = MosquittoServer(base)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


def test_messages_wait_out_a_broker_outage(db: Database, own_broker: MosquittoServer, devices: list[str]) -> None:
    device_id = devices[1]
    set_online(db.engine, device_id, True)
    # A unit with a persistent session: the broker queues for it across the restart.
    receiver = unit(own_broker.url, f"fleet/v1/{device_id}/cmd", client_id=device_id, persistent=True)
    dispatcher = DispatcherThread(db.url, own_broker.url).start()
    try:
        own_broker.stop()
        wait_until(lambda: not dispatcher.service.client.connected, "the dispatcher disconnected")
        assert dispatcher.service.not_ready_reason() == "not connected to the MQTT broker"
        ids = [enqueue(db.engine, device_id, f"during-outage-{n}".encode()) for n in range(3)]
        time.sleep(0.6)  # six passes without a broker
        assert set(states(db.engine, ids).values()) == {"pending"}
        assert all(row(db.engine, i).attempts == 0 for i in ids)

        own_broker.start()
        wait_until(lambda: set(states(db.engine, ids).values()) == {"sent"}, "the messages sent", timeout=30)
        wait_until(lambda: len(receiver.messages()) == 3, "the messages at the unit", timeout=30)
        assert receiver.ids() == ids
    finally:
        dispatcher.stop()
        receiver.close()


# --- SQLite (`fleet up`) ------------------------------------------------------------------------------------------


def test_the_dispatcher_works_on_sqlite(sqlite_url: str, mosquitto: MosquittoServer, unique: str) -> None:
    engine = make_engine(sqlite_url)
    device_id = f"lite-{unique}"
    register(engine, device_id)
    set_online(engine, device_id, True)
    receiver = unit(mosquitto.url, f"fleet/v1/{device_id}/cmd")
    dispatcher = DispatcherThread(sqlite_url, mosquitto.url).start()
    try:
        ids = [enqueue(engine, device_id, f"{n}".encode()) for n in range(5)]
        wait_until(lambda: set(states(engine, ids).values()) == {"sent"}, "the messages sent")
        wait_until(lambda: len(receiver.messages()) == 5, "the messages at the unit")
        assert receiver.ids() == ids
        assert dispatcher.service.listener is None  # no LISTEN/NOTIFY: polling only
    finally:
        dispatcher.stop()
        receiver.close()
        engine.dispose()


@pytest.mark.parametrize("database", ["postgresql", "sqlite"])
def test_a_requested_replay_is_published_on_its_topic_and_marked_replayed(
    database: str, db: Database, sqlite_url: str, mosquitto: MosquittoServer, unique: str
) -> None:
    url = db.url if database == "postgresql" else sqlite_url
    engine = make_engine(url)
    topic = f"fleet/v1/replayed-{unique}/pos"
    receiver = unit(mosquitto.url, topic)
    dispatcher = DispatcherThread(url, mosquitto.url).start()
    try:
        with make_session_factory(engine)() as session:
            letter = DeadLetter(topic=topic, device_id=None, reason="unknown_device", detail="x", payload=b'{"seq":1}')
            session.add(letter)
            session.flush()
            deadletters.request_replay(session, [letter], tenant_id=None)
            session.commit()
            letter_id = letter.id

        wait_until(lambda: [m.payload for m in receiver.messages()] == [b'{"seq":1}'], "the letter at its topic")

        def replayed() -> bool:
            with make_session_factory(engine)() as session:
                row = session.get_one(DeadLetter, letter_id)
                return row.replayed_at is not None and row.replay_requested_at is None and row.replay_count == 1

        wait_until(replayed, "the letter marked replayed")
        # A replay carries no downlink message id: the unit's original message had none.
        assert receiver.messages()[0].message_id is None
    finally:
        dispatcher.stop()
        receiver.close()
        engine.dispose()


def test_an_unmigrated_database_stops_the_dispatcher(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    dispatcher = DispatcherThread(f"sqlite:///{tmp_path / 'empty.db'}", mosquitto.url)
    dispatcher.thread.start()
    wait_until(lambda: not dispatcher.thread.is_alive(), "the dispatcher stopped")
    assert isinstance(dispatcher.error, SchemaMismatch)
    reason = dispatcher.service.not_ready_reason()
    assert reason is not None and "fleet migrate" in reason
    dispatcher.service.engine.dispose()


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")
