"""A simulated bus obeying commands over a real Mosquitto (and a real SeaweedFS for a requested clip)."""

import itertools
import json
import logging
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet.contract.codec import decode_message
from fleet.contract.downlink import FileVerified
from fleet.contract.records import AckRecord, FileRecord, PositionRecord, Record, StatusRecord
from fleet.contract.topics import downlink_topic
from fleet.mqtt.url import parse_mqtt_url
from fleet.settings import SimSettings
from tests.fixtures.downlink import Unit, unit
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.publisher import Publisher
from tests.fixtures.s3 import SeaweedServer
from tests.vehicle_sim.backend import Backend, s3_store
from tests.vehicle_sim.helpers import LIMITS
from vehicle_sim.device import COMMAND_SUFFIX, GRANT_SUFFIX, MESSAGE_ID_PROPERTY
from vehicle_sim.fleet_sim import SimulatedFleet, device_id_for

pytestmark = pytest.mark.integration


class Bus:
    """One simulated bus running against the broker, the test's dispatcher, and all it publishes."""

    def __init__(self, server: MosquittoServer, protocol: int, **settings: Any) -> None:
        prefix = f"c{uuid.uuid4().hex[:6]}-"
        self.device_id = device_id_for(prefix, 1)
        options: dict[str, Any] = {
            "vehicles": 1,
            "prefix": prefix,
            "seed": 5,
            "dropout_probability_per_minute": 0,
            "clips_per_hour": 0,
            "command_failure_probability": 0,
        }
        self.uplink: Unit = unit(server.url, f"fleet/v1/{self.device_id}/+")
        self.dispatcher = Publisher(server.port)
        self.fleet = SimulatedFleet(parse_mqtt_url(server.url), SimSettings(**{**options, **settings}), protocol)
        self._stop = threading.Event()
        self._runner = threading.Thread(target=self.fleet.run, args=(self._stop,), daemon=True)
        self.fleet.start()
        self._runner.start()

    def records(self) -> list[Record]:
        """Every record the bus published so far, in arrival order."""
        found: list[Record] = []
        for message in self.uplink.messages():
            if message.topic.endswith(("/cmd", "/file/grant")):
                continue
            decoded = decode_message(message.topic, message.payload, datetime.now(UTC), LIMITS)
            assert decoded.rejected == [] and decoded.unknown_fields == 0
            found.extend(decoded.records)
        return found

    def answers(self, command_id: str) -> list[AckRecord]:
        """The bus's acks of one command."""
        return [r for r in self.records() if isinstance(r, AckRecord) and r.command_id == command_id]

    def states(self, command_id: str) -> list[str]:
        """The states the bus answered one command with, in order."""
        return [ack.state for ack in self.answers(command_id)]

    def statuses(self) -> list[str]:
        """The bus's status records so far."""
        return [r.state for r in self.records() if isinstance(r, StatusRecord)]

    def command(self, command_id: str, type_: str, params: dict[str, Any], message_id: str) -> None:
        """Publish a command as the dispatcher does: QoS 1, with its message id."""
        expires_at = datetime.now(UTC) + timedelta(minutes=5)
        payload = {"id": command_id, "type": type_, "params": params, "expires_at": expires_at.isoformat()}
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.UserProperty = [(MESSAGE_ID_PROPERTY, message_id)]
        self.publish(COMMAND_SUFFIX, payload, properties)

    def publish(self, suffix: str, payload: dict[str, Any] | str, properties: Properties | None = None) -> None:
        """Publish on the bus's downlink and wait for the broker's acknowledgement."""
        body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        topic = downlink_topic(self.device_id, suffix)
        info = self.dispatcher.client.publish(topic, body, qos=1, properties=properties)
        info.wait_for_publish(timeout=10)
        assert info.is_published()

    def close(self) -> None:
        """Stop the bus and the test's clients."""
        self._stop.set()
        self._runner.join(timeout=5)
        self.fleet.close()
        self.dispatcher.close()
        self.uplink.close()
        assert not self._runner.is_alive()


def positions_after(bus: Bus, moment: datetime) -> list[PositionRecord]:
    """The bus's positions taken after `moment`."""
    return [r for r in bus.records() if isinstance(r, PositionRecord) and r.ts > moment]


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt311", "mqtt5"])
def test_a_bus_obeys_commands_once_and_answers_on_ack(
    mosquitto: MosquittoServer, protocol: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vehicle_sim.commands")
    bus = Bus(mosquitto, protocol, pos_interval_seconds=2.0, can_interval_seconds=5.0, reboot_seconds=0.5)
    try:
        # The online status follows the bus's subscriptions on its connection: commands reach it from here on.
        wait_until(lambda: bus.statuses() == ["online"], "the bus online")
        bus.command("101", "driver_message", {"text": "Please call the depot"}, message_id="1")
        wait_until(lambda: bus.states("101") == ["received", "done"], "the driver message done")
        displayed = [m for m in caplog.messages if "driver display" in m]
        assert displayed == [f"{bus.device_id} driver display: Please call the depot"]

        bus.command("102", "set_reporting", {"pos_interval_seconds": 0.5}, message_id="2")
        wait_until(lambda: bus.states("102") == ["received", "done"], "the reporting change done")
        done = bus.answers("102")[-1]
        assert done.result == {"pos_interval_seconds": 0.5, "can_interval_seconds": 5.0}
        wait_until(lambda: len(positions_after(bus, done.ts)) >= 7, "positions at the new rate")
        fresh = positions_after(bus, done.ts)[1:]
        gaps = [(b.ts - a.ts).total_seconds() for a, b in itertools.pairwise(fresh)]
        assert all(0.3 <= gap <= 0.8 for gap in gaps), gaps

        # The dispatcher sending the driver message again: answered again, not shown again.
        bus.command("101", "driver_message", {"text": "Please call the depot"}, message_id="1")
        wait_until(lambda: bus.states("101") == ["received", "done", "done"], "the repeat answered")
        assert [m for m in caplog.messages if "driver display" in m] == displayed

        bus.command("103", "reboot", {}, message_id="3")
        wait_until(lambda: bus.statuses() == ["online", "offline", "online"], "the bus back after its reboot")
        assert bus.states("103") == ["received", "done"] and bus.answers("103")[-1].result == {"rebooting": True}
        assert [r.seq for r in bus.records() if isinstance(r, StatusRecord)] == [0, 1, 2]
        # Subscribed again: it takes commands after the reboot.
        bus.command("104", "set_reporting", {"can_interval_seconds": 10}, message_id="4")
        wait_until(lambda: bus.states("104") == ["received", "done"], "a command after the reboot")
        assert bus.answers("104")[-1].result == {"pos_interval_seconds": 0.5, "can_interval_seconds": 10}
        acks = [r for r in bus.records() if isinstance(r, AckRecord)]
        assert [a.seq for a in acks] == list(range(len(acks)))
    finally:
        bus.close()


def test_a_requested_clip_is_offered_with_the_command_id_and_done_once_verified(
    mosquitto: MosquittoServer, s3: SeaweedServer
) -> None:
    bus = Bus(
        mosquitto,
        mqtt.MQTTv5,
        upload_interrupt_probability=0,
        tachograph_vu_interval_seconds=90 * 86400,
        tachograph_card_interval_seconds=28 * 86400,
    )
    backend = Backend(s3_store(s3, s3.create_bucket()), bus.device_id)

    def offers() -> list[FileRecord]:
        return [r for r in bus.records() if isinstance(r, FileRecord) and r.command_id == "4711"]

    try:
        wait_until(lambda: bus.statuses() == ["online"], "the bus online")
        ended_at = datetime.now(UTC) - timedelta(seconds=30)
        started_at = ended_at - timedelta(seconds=20)
        params = {"kind": "video", "started_at": started_at.isoformat(), "ended_at": ended_at.isoformat()}
        bus.command("4711", "request_file", params, message_id="9")
        wait_until(offers, "the offer of the clip")
        [offer] = offers()
        assert (offer.state, offer.kind, offer.camera, offer.content_type) == ("offered", "video", "front", "video/mp4")
        assert (offer.started_at, offer.ended_at) == (started_at, ended_at)
        assert bus.states("4711") == ["received"]

        bus.publish(GRANT_SUFFIX, backend.grant(offer).model_dump_json(exclude_none=True))
        wait_until(lambda: [r.state for r in offers()] == ["offered", "uploaded"], "the upload report")
        assert backend.store.sha256(backend.keys[offer.file_id]) == offer.sha256
        assert bus.states("4711") == ["received"]

        bus.publish(GRANT_SUFFIX, FileVerified(file_id=offer.file_id).model_dump_json())
        wait_until(lambda: bus.states("4711") == ["received", "done"], "the command done")
        assert bus.answers("4711")[-1].result == {"file_id": offer.file_id}
    finally:
        bus.close()
