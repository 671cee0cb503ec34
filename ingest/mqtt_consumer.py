"""The MQTT side of ingest: a persistent QoS 1 subscription whose messages are acknowledged by the caller."""

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from fleet.mqtt.url import MqttEndpoint
from ingest import metrics
from ingest.buffered_client import BufferedClient
from ingest.messages import InboundMessage

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 30
# Largest MQTT v5 Receive Maximum.
MAX_RECEIVE_MAXIMUM = 65535


class MqttConsumer:
    """Subscribes in on_connect (so a reconnect restores it) and hands every message to `deliver`."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        client_id: str,
        subscription: str,
        deliver: Callable[[InboundMessage], None],
        *,
        protocol_v5: bool = True,
        session_expiry_seconds: int = 7 * 24 * 3600,
        receive_maximum: int = 1000,
    ) -> None:
        self._endpoint = endpoint
        self._subscription = subscription
        self._deliver = deliver
        self._protocol_v5 = protocol_v5
        self._session_expiry = session_expiry_seconds
        self._receive_maximum = min(receive_maximum, MAX_RECEIVE_MAXIMUM)
        self._connection = 0
        self.connected = False
        self._client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if protocol_v5 else mqtt.MQTTv311,
            clean_session=None if protocol_v5 else False,
            manual_ack=True,
        )
        if endpoint.username:
            self._client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.tls:
            self._client.tls_set()
        self._client.reconnect_delay_set(min_delay=1, max_delay=10)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background; paho reconnects on its own."""
        if self._protocol_v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.SessionExpiryInterval = self._session_expiry
            properties.ReceiveMaximum = self._receive_maximum
            self._client.connect_async(
                self._endpoint.host,
                self._endpoint.port,
                KEEPALIVE_SECONDS,
                clean_start=False,
                properties=properties,
            )
        else:
            self._client.connect_async(self._endpoint.host, self._endpoint.port, KEEPALIVE_SECONDS)
        self._client.loop_start()

    def ack(self, messages: Iterable[InboundMessage]) -> None:
        """Acknowledge messages received on the current connection; older ones will be redelivered."""
        for message in messages:
            if message.qos > 0 and message.connection == self._connection and self.connected:
                self._client.ack(message.mid, message.qos)

    def stop(self) -> None:
        """Disconnect cleanly (the broker keeps the session) and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
        self.connected = False
        metrics.BROKER_CONNECTED.set(0)

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason_code: ReasonCode, _properties: Any
    ) -> None:
        if reason_code.is_failure:
            logger.error("broker refused the connection: %s", reason_code)
            return
        self._connection += 1
        self.connected = True
        metrics.BROKER_CONNECTED.set(1)
        logger.info(
            "connected to %s:%s (session present: %s)", self._endpoint.host, self._endpoint.port, flags.session_present
        )
        client.subscribe(self._subscription, qos=1)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: ReasonCode, _properties: Any
    ) -> None:
        self.connected = False
        metrics.BROKER_CONNECTED.set(0)
        logger.warning("disconnected from broker: %s", reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._deliver(
                InboundMessage(
                    topic=message.topic,
                    payload=bytes(message.payload),
                    mid=message.mid,
                    qos=message.qos,
                    connection=self._connection,
                    received_monotonic=time.monotonic(),
                )
            )
        except Exception:
            # A callback must never raise into paho's loop; the message stays unacknowledged and comes back.
            logger.exception("could not queue message on %.200s", message.topic)
