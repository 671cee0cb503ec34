"""Ingest's paho client against a real Mosquitto: what it reads from its buffer, the PUBLISHes it decodes itself,
and a batch's PUBACKs in one write."""

import random
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint, parse_mqtt_url
from ingest.buffered_client import BufferedClient
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
    # The broker answers a PUBLISH only after the PUBACKs sent before it on the same connection.
    session._client.publish(f"{topic}/sync", b"", qos=1).wait_for_publish(5)
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


class Subscriber:
    """A BufferedClient on MQTT v5 keeping every message paho hands it."""

    def __init__(self, server: MosquittoServer, topic: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        endpoint = MqttEndpoint("127.0.0.1", server.port)
        self.client = make_client(
            endpoint, f"buf-{uuid.uuid4().hex[:8]}", protocol=MQTTProtocolVersion.MQTTv5, client_class=BufferedClient
        )
        self.client.on_message = lambda _c, _u, message: self._keep(message)
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.connect(endpoint.host, endpoint.port)
        self.client.loop_start()
        assert subscribed.wait(5), "subscription not acknowledged"

    def _keep(self, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def received(self) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_messages_of_every_size_come_through_the_read_buffer_intact_and_in_order(mosquitto: MosquittoServer) -> None:
    topic = f"buf/{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(mosquitto, topic)
    rng = random.Random(7)
    # Sizes from one byte to more than the 64 KiB read, so packets straddle every read's end.
    sent = [bytes([n % 251]) * rng.choice((1, 17, 300, 4_000, 70_000)) for n in range(600)]
    publisher = Publisher(mosquitto.port)
    try:
        publisher.publish_many([(topic, payload) for payload in sent])
        wait_until(lambda: len(subscriber.received()) == len(sent), "every message")
    finally:
        publisher.close()
        subscriber.close()
    assert [m.payload for m in subscriber.received()] == sent


def test_a_publish_with_properties_keeps_them_and_one_without_is_decoded_alike(mosquitto: MosquittoServer) -> None:
    topic = f"buf/{uuid.uuid4().hex[:8]}"
    subscriber = Subscriber(mosquitto, topic)
    plain = Publisher(mosquitto.port)  # MQTT 3.1.1, as the units publish: no properties
    v5 = make_client(MqttEndpoint("127.0.0.1", mosquitto.port), "", protocol=MQTTProtocolVersion.MQTTv5)
    v5.connect("127.0.0.1", mosquitto.port)
    v5.loop_start()
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.UserProperty = ("unit", "42")
    try:
        plain.publish(topic, b"plain")
        v5.publish(topic, b"with properties", qos=1, properties=properties).wait_for_publish(5)
        v5.publish(topic, b"at qos 0", qos=0).wait_for_publish(5)
        wait_until(lambda: len(subscriber.received()) == 3, "three messages")
    finally:
        v5.disconnect()
        v5.loop_stop()
        plain.close()
        subscriber.close()
    by_payload = {m.payload: m for m in subscriber.received()}
    assert {m.topic for m in by_payload.values()} == {topic}
    assert (by_payload[b"plain"].qos, by_payload[b"with properties"].qos, by_payload[b"at qos 0"].qos) == (1, 1, 0)
    assert by_payload[b"plain"].mid != by_payload[b"with properties"].mid
    assert by_payload[b"with properties"].properties.UserProperty == [("unit", "42")]
    assert not hasattr(by_payload[b"plain"].properties, "UserProperty")
