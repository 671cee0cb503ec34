"""Commands through faults, with the real parts: Mosquitto with access control, PostgreSQL, ingest, the dispatcher
(a process, so it can be killed) and a scripted unit that acts once per command id and acks as the contract says.

- the dispatcher killed between the broker's PUBACK and its commit: the unit gets the command twice, acts once, and
  the command ends done;
- the broker restarted while commands wait for an offline unit: they arrive, in order, once it is back;
- a unit offline past a command's expiry gets nothing when it returns, and the command reads expired.
"""

import json
import secrets
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine, select, text

from fleet.commands import service as commands
from fleet.contract.commands import CommandMessage
from fleet.contract.topics import Stream, downlink_topic, uplink_topic
from fleet.db.engine import make_engine, make_session_factory
from fleet.db.migrate import upgrade
from fleet.db.models import Command, Vehicle
from fleet.mqtt.client import make_client
from fleet.mqtt.dynsec import bootstrap_config, hash_password
from fleet.mqtt.policy import ServiceIdentity
from fleet.mqtt.url import MqttEndpoint
from tests.fixtures.downlink import HeldBeforeSent
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.processes import DispatcherProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ADMIN = ("fleet-admin", secrets.token_urlsafe(16))
SERVICES = {identity: secrets.token_urlsafe(16) for identity in ServiceIdentity}


class ScriptedUnit:
    """A unit on one persistent MQTT v5 connection: acts once per command id, answers every copy with its acks."""

    def __init__(self, endpoint: MqttEndpoint) -> None:
        self.device_id = endpoint.username or ""
        self.received: list[str] = []
        self.executed: list[str] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._subscribed = threading.Event()
        self.client = make_client(endpoint, self.device_id)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = lambda client, *_: client.subscribe(downlink_topic(self.device_id, "cmd"), qos=1)
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self._endpoint = endpoint

    def connect(self) -> None:
        """Connect with a session the broker keeps while the unit is away, and say online."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 300
        self._subscribed.clear()
        self.client.connect_async(self._endpoint.host, self._endpoint.port, clean_start=False, properties=properties)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the cmd subscription was not granted"
        self.status("online")

    def status(self, state: str) -> None:
        """Publish the retained status, as a unit does on connecting and before leaving."""
        self._publish(Stream.STATUS, {"state": state}, retain=True)

    def leave(self) -> None:
        """Say offline and disconnect (the broker keeps the session and queues for it)."""
        self.status("offline")
        self.client.disconnect()
        self.client.loop_stop()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        command = CommandMessage.model_validate_json(message.payload)
        with self._lock:
            self.received.append(command.id)
            first = command.id not in self.executed
            if first:
                self.executed.append(command.id)
        self._ack(command.id, "received")
        self._ack(command.id, "done", result={"shown": True})

    def _ack(self, command_id: str, state: str, **fields: Any) -> None:
        self._publish(Stream.ACK, {"command_id": command_id, "state": state, **fields})

    def _publish(self, stream: Stream, fields: dict[str, Any], retain: bool = False) -> None:
        with self._lock:
            self._seq += 1
            record = {"ts": datetime.now(UTC).isoformat(), "seq": self._seq, **fields}
        self.client.publish(uplink_topic(self.device_id, stream), json.dumps(record), qos=1, retain=retain)


@dataclass
class Stack:
    url: str
    engine: Engine
    broker: MosquittoServer
    device_id: str
    unit: ScriptedUnit
    base: Path

    def publisher_url(self) -> str:
        identity = ServiceIdentity.PUBLISHER
        return f"mqtt://{identity.value}:{SERVICES[identity]}@127.0.0.1:{self.broker.port}"

    def send(self, text: str, expires_in: timedelta = timedelta(minutes=5)) -> int:
        """An operator's command to the unit, committed; its id."""
        with make_session_factory(self.engine)() as session:
            vehicle = session.scalars(select(Vehicle).where(Vehicle.device_id == self.device_id)).one()
            command, _ = commands.create(session, vehicle, "driver_message", {"text": text}, expires_in)
            session.commit()
            return command.id

    def state(self, command_id: int) -> str:
        with make_session_factory(self.engine)() as session:
            return session.get_one(Command, command_id).state

    def history(self, command_id: int) -> list[str]:
        with make_session_factory(self.engine)() as session:
            _, steps = commands.get(session, session.get_one(Command, command_id).tenant_id, command_id)
            return [step.state for step in steps]

    def online(self, expected: bool) -> None:
        def matches() -> bool:
            with make_session_factory(self.engine)() as session:
                query = (
                    "SELECT s.online FROM vehicle_state s JOIN vehicles v ON v.id = s.vehicle_id WHERE v.device_id = :d"
                )
                return bool(session.execute(text(query), {"d": self.device_id}).scalar() is expected)

        wait_until(matches, f"the unit's status {'online' if expected else 'offline'} stored")


@pytest.fixture
def stack(postgres: PostgresServer) -> Iterator[Stack]:
    base = Path(tempfile.mkdtemp(prefix="fleet-commands-faults-"))
    base.chmod(0o755)
    url = postgres.create_database(f"commands_faults_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    engine = make_engine(url)
    device_id, password = f"unit-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(24)
    seed_tenant(engine, f"cmd-{uuid.uuid4().hex[:8]}", [device_id])
    broker = MosquittoServer(
        base / "mqtt", access=bootstrap_config(ADMIN, SERVICES, {device_id: hash_password(password)})
    )
    broker.start()
    ingest_identity = ServiceIdentity.INGEST
    ingest = IngestThread(url, f"mqtt://{ingest_identity.value}:{SERVICES[ingest_identity]}@127.0.0.1:{broker.port}")
    ingest.start()
    unit = ScriptedUnit(MqttEndpoint("127.0.0.1", broker.port, device_id, password))
    try:
        yield Stack(url, engine, broker, device_id, unit, base)
    finally:
        unit.client.disconnect()
        unit.client.loop_stop()
        ingest.stop()
        broker.stop()
        engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


def test_a_dispatcher_killed_between_puback_and_commit_delivers_twice_and_the_unit_acts_once(stack: Stack) -> None:
    stack.unit.connect()
    stack.online(True)
    hold = HeldBeforeSent(stack.engine)
    first = DispatcherProcess(stack.url, stack.publisher_url(), stack.base / "first.log").start_ready()
    second: DispatcherProcess | None = None
    try:
        command_id = stack.send("Depot at 18:00")
        wait_until(lambda: stack.unit.received, "the first copy at the unit")
        wait_until(lambda: stack.state(command_id) == "done", "the unit's acks applied")
        wait_until(hold.waiting, "the dispatcher waiting to mark the message sent")
        first.kill()
        hold.release()

        second = DispatcherProcess(stack.url, stack.publisher_url(), stack.base / "second.log").start_ready()
        wait_until(lambda: len(stack.unit.received) == 2, "the second copy at the unit")

        assert stack.unit.received == [str(command_id)] * 2
        assert stack.unit.executed == [str(command_id)]
        # The unit answered before the (killed) dispatcher committed: its ack showed the send. The acks of the
        # repeat change nothing: the command moved forward once.
        wait_until(lambda: stack.history(command_id) == ["queued", "sent", "delivered", "done"], "the history")
    finally:
        first.kill()
        if second:
            second.kill()
        hold.close()


def test_commands_queued_for_an_offline_unit_arrive_in_order_after_a_broker_restart(stack: Stack) -> None:
    dispatcher = DispatcherProcess(stack.url, stack.publisher_url(), stack.base / "dispatcher.log").start_ready()
    try:
        stack.unit.connect()
        stack.unit.leave()
        stack.online(False)
        ids = [stack.send(f"message {n}") for n in range(3)]
        stack.broker.stop()
        stack.broker.start()
        assert {stack.state(i) for i in ids} == {"queued"}

        stack.unit.connect()
        wait_until(lambda: {stack.state(i) for i in ids} == {"done"}, "every command done", timeout=30)
        assert stack.unit.received == [str(i) for i in ids]
        for command_id in ids:
            assert stack.history(command_id) == ["queued", "sent", "delivered", "done"]
    finally:
        dispatcher.kill()


def test_a_unit_offline_past_the_expiry_gets_nothing_and_the_command_reads_expired(stack: Stack) -> None:
    dispatcher = DispatcherProcess(stack.url, stack.publisher_url(), stack.base / "dispatcher.log").start_ready()
    try:
        stack.unit.connect()
        stack.unit.leave()
        stack.online(False)
        command_id = stack.send("too late", expires_in=timedelta(seconds=10))
        wait_until(lambda: stack.state(command_id) == "expired", "the command expired", timeout=20)

        stack.unit.connect()
        stack.online(True)
        later = stack.send("on time")
        wait_until(lambda: stack.state(later) == "done", "a later command done")

        assert stack.unit.received == [str(later)]
        assert stack.history(command_id) == ["queued", "expired"]
    finally:
        dispatcher.kill()
