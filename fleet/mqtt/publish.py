"""Publish a few messages reliably (QoS 1, wait for every PUBACK): used to replay dead letters."""

import uuid
from collections.abc import Sequence

from paho.mqtt.enums import MQTTProtocolVersion

from fleet.errors import Unavailable
from fleet.mqtt.client import make_client
from fleet.mqtt.url import MqttEndpoint

CONNECT_TIMEOUT_SECONDS = 5.0
ACK_TIMEOUT_SECONDS = 30.0


class PublishError(Unavailable):
    """The broker could not be reached or did not acknowledge."""


def publish_and_wait(
    endpoint: MqttEndpoint, messages: Sequence[tuple[str, bytes]], client_prefix: str = "fleet-replay"
) -> None:
    """Publish `messages` at QoS 1 and return once the broker acknowledged all of them."""
    client = make_client(endpoint, f"{client_prefix}-{uuid.uuid4().hex[:8]}", protocol=MQTTProtocolVersion.MQTTv311)
    client.max_queued_messages_set(0)
    try:
        client.connect(endpoint.host, endpoint.port)
    except OSError as error:
        raise PublishError(f"MQTT broker {endpoint.host}:{endpoint.port} unreachable: {error}") from None
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=ACK_TIMEOUT_SECONDS)
            if not info.is_published():
                raise PublishError("the broker did not acknowledge every message")
    except (RuntimeError, ValueError) as error:
        raise PublishError(str(error)) from None
    finally:
        client.disconnect()
        client.loop_stop()
