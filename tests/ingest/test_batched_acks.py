"""A batch's PUBACKs go out as one write and acknowledge exactly the messages named, against a real Mosquitto."""

import threading
import uuid

import pytest

from fleet.mqtt.url import parse_mqtt_url
from ingest.messages import InboundMessage
from ingest.mqtt_consumer import MqttConsumer
from tests.fixtures.ingest_runner import wait_until
from tests.fixtures.mosquitto import MosquittoServer
from tests.fixtures.publisher import Publisher

pytestmark = pytest.mark.integration


class Received:
    """What a consumer was handed, in order."""

    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self._lock = threading.Lock()

    def __call__(self, message: InboundMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [m.payload for m in self.messages]


def consumer(server: MosquittoServer, client_id: str, topic: str, received: Received) -> MqttConsumer:
    """A started consumer with a persistent session, subscribed at QoS 1."""
    started = MqttConsumer(parse_mqtt_url(server.url), client_id, topic, received, session_expiry_seconds=60)
    started.start()
    wait_until(lambda: started.subscribed, "subscribed")
    return started


def test_acknowledged_messages_are_not_sent_again_and_the_others_are(mosquitto: MosquittoServer) -> None:
    topic, client_id = f"acks/{uuid.uuid4().hex[:8]}", f"acks-{uuid.uuid4().hex[:8]}"
    first = Received()
    session = consumer(mosquitto, client_id, topic, first)
    publisher = Publisher(mosquitto.port)
    publisher.publish_many([(topic, f"m{n}".encode()) for n in range(300)])
    wait_until(lambda: len(first.payloads()) == 300, "all 300 delivered")

    acknowledged = [m for m in first.messages if int(m.payload[1:]) % 3 != 0]
    session.ack(acknowledged)
    session.stop()
    again = Received()
    resumed = consumer(mosquitto, client_id, topic, again)
    try:
        wait_until(lambda: len(again.payloads()) >= 100, "the unacknowledged ones again")
        publisher.publish(topic, b"after")
        wait_until(lambda: b"after" in again.payloads(), "a new message after the redeliveries")
    finally:
        resumed.stop()
        publisher.close()

    redelivered = [p for p in again.payloads() if p != b"after"]
    assert sorted(redelivered) == sorted(f"m{n}".encode() for n in range(0, 300, 3))
