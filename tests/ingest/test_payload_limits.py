"""Two payload limits: ingest's (FLEET_INGEST_MAX_PAYLOAD_BYTES, dead-lettered as oversized) below the broker's
(max_packet_size in mosquitto.conf, where the broker disconnects the publisher and ingest sees nothing)."""

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import Engine, func, select

from fleet.db.models import DeadLetter, Position, Vehicle
from fleet.settings import IngestSettings
from tests.fixtures.factories import seed_tenant
from tests.fixtures.ingest_runner import IngestThread, wait_until
from tests.fixtures.mosquitto import BROKER_CONF, REPO, MosquittoServer
from tests.fixtures.publisher import Publisher

pytestmark = pytest.mark.integration

KIB = 1024
# MQTT "Packet too large" (MQTT v5 reason code 0x95).


def broker_max_packet_size() -> int:
    match = re.search(r"(?m)^max_packet_size (\d+)$", BROKER_CONF.read_text())
    assert match, "mosquitto.conf sets max_packet_size"
    return int(match.group(1))


@pytest.fixture
def ingest(pg_url: str, mosquitto: MosquittoServer) -> Iterator[IngestThread]:
    runner = IngestThread(pg_url, mosquitto.url).start()
    yield runner
    runner.stop()


def letters_on(engine: Engine, topic: str) -> list[DeadLetter]:
    with engine.connect() as connection:
        return list(connection.execute(select(DeadLetter).where(DeadLetter.topic == topic)))  # type: ignore[arg-type]


def positions_of(engine: Engine, device: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count())
                .select_from(Position)
                .join(Vehicle, Vehicle.id == Position.vehicle_id)
                .where(Vehicle.device_id == device)
            )
        )


def test_ingest_limit_is_below_the_broker_limit_and_both_are_documented() -> None:
    broker_limit, ingest_limit = broker_max_packet_size(), IngestSettings().max_payload_bytes
    assert (ingest_limit, broker_limit) == (256 * KIB, 1024 * KIB)
    assert ingest_limit < broker_limit, "above the broker's limit, oversized messages are never dead-lettered"
    for doc in ("docs/contract.md", "docs/operations.md"):
        text = (REPO / doc).read_text()
        assert "max_packet_size" in text and "FLEET_INGEST_MAX_PAYLOAD_BYTES" in text, doc
        assert "Packet too large" in text and "disconnected due to oversize packet" in text, doc


def test_a_300_kib_payload_is_dead_lettered_as_oversized_through_the_broker(
    pg_engine: Engine, ingest: IngestThread, mosquitto: MosquittoServer, unique: str
) -> None:
    seed_tenant(pg_engine, f"limits-{unique}", [f"big-{unique}"])
    topic = f"fleet/v1/big-{unique}/pos"
    payload = b'{"records": [' + b" " * (300 * KIB - 15) + b"]}"
    assert len(payload) == 300 * KIB
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish(topic, payload)
        wait_until(lambda: letters_on(pg_engine, topic), "the oversized dead letter")
    finally:
        publisher.close()
    (letter,) = letters_on(pg_engine, topic)
    assert (letter.reason, letter.detail) == ("oversized", f"payload of {300 * KIB} bytes exceeds {256 * KIB}")
    assert letter.payload == payload


def test_a_packet_over_the_broker_limit_disconnects_its_publisher_and_never_reaches_ingest(
    pg_engine: Engine, ingest: IngestThread, mosquitto: MosquittoServer, unique: str
) -> None:
    device = f"huge-{unique}"
    seed_tenant(pg_engine, f"limits-{unique}", [device])
    topic = f"fleet/v1/{device}/pos"
    disconnected = threading.Event()
    seen: dict[str, object] = {"reasons": []}

    def on_connect(_c: mqtt.Client, _u: object, _f: object, _rc: object, properties: Properties) -> None:
        seen["maximum_packet_size"] = getattr(properties, "MaximumPacketSize", None)

    def on_disconnect(client: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode, _p: object) -> None:
        # The broker's DISCONNECT says "Packet too large" when paho reads it before its own write fails; when
        # the socket fails first paho reports an unspecified error. Either way the unit is cut off.
        seen["reasons"].append(reason)  # type: ignore[attr-defined]
        disconnected.set()

    unit = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"huge-{unique}", protocol=mqtt.MQTTv5)
    unit.on_connect, unit.on_disconnect = on_connect, on_disconnect
    unit.connect("127.0.0.1", mosquitto.port, properties=Properties(PacketTypes.CONNECT))  # type: ignore[no-untyped-call]
    unit.loop_start()
    try:
        info = unit.publish(topic, b"x" * broker_max_packet_size(), qos=1)  # payload alone the size of the limit
        assert disconnected.wait(15), "the broker kept a unit that sent a packet over its limit"
        assert not info.is_published()
    finally:
        unit.disconnect()
        unit.loop_stop()
    # MQTT v5 units learn the limit from the CONNACK.
    assert seen["maximum_packet_size"] == broker_max_packet_size()

    publisher = Publisher(mosquitto.port)
    try:
        ts = datetime.now(UTC).isoformat()
        publisher.publish(topic, {"ts": ts, "seq": 1, "lat": 1.0, "lon": 2.0})
        wait_until(lambda: positions_of(pg_engine, device) == 1, "the next message of the topic")
    finally:
        publisher.close()
    assert letters_on(pg_engine, topic) == []  # ingest never saw the large one: only the broker knows
