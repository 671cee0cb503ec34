"""Publish a few messages reliably (QoS 1, wait for every PUBACK): used to replay dead letters."""

import uuid
from collections.abc import Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from fleet.errors import Unavailable
from fleet.mqtt.url import parse_mqtt_url

CONNECT_TIMEOUT_SECONDS = 5.0
ACK_TIMEOUT_SECONDS = 30.0


class PublishError(Unavailable):
    """The broker could not be reached or did not acknowledge."""


def publish_and_wait(mqtt_url: str, messages: Sequence[tuple[str, bytes]], client_prefix: str = "fleet-replay") -> None:
    """Publish `messages` at QoS 1 and return once the broker acknowledged all of them."""
    endpoint = parse_mqtt_url(mqtt_url)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"{client_prefix}-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv311
    )
    if endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        client.tls_set()
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
